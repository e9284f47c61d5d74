"""New Era NE-1000 syringe pump, simulated at the wire: basic and safe mode, byte for byte.

``NE1000Device`` is the pump's state machine for ``raphe.simulators.pty_port.PtyPort``:
it parses the RS-232 command grammar (basic ``[addr]CMD[data]CR`` and safe-mode
``STX len data CRC16 ETX`` frames), answers ``STX addr prompt [data|?err] ETX``
and keeps the pump's physics on the shared ``Clock``: dispensed volume is the
integral of the rate, an empty (or full, when withdrawing) syringe stalls the
motor with alarm ``A?S``. Power-up quirks are modelled: the first command
after power-up is ignored, the first valid one after that is answered with
``A?R`` and not executed; in safe mode the pump also sends ``A?R`` unsolicited
at power-up and starts its watchdog only at the first valid packet. Link
timing (safe-mode watchdog, 0.5 s inter-byte discard) runs on ``link_clock``
(real time unless a test passes a faster one).

As independent clients find on real pumps: ``STP`` on a stopped pump is
answered ``?NA``; a safe-mode packet is accepted in basic mode (nesp-lib
sends its first ``SAF`` that way); reply numbers ≥ 1000 keep a decimal point
(``1234.``); ``DIR`` while pumping is allowed when the target volume is 0.
The reply to ``SAF n`` is framed in the new mode (nesp-lib's expectation;
``saf_reply="old"`` frames it in the mode the packet arrived in instead).

``SimulatedNE1000`` owns a device and its pty; ``python -m raphe.simulators.ne1000``
serves one and takes fault commands on stdin.
"""

from __future__ import annotations

import binascii
import logging
import math
import re
import threading

from raphe.clock import Clock
from raphe.simulators.pty_port import PtyPort, PtySimulator

log = logging.getLogger(__name__)

STX, ETX, CR = 0x02, 0x03, 0x0D

#: Plunger speed range (mm/min) from the NE-1000 datasheet's rate range, 0.73 µL/h with a
#: 1 mL B-D syringe (4.78 mm) to 1699 mL/h with a 60 mL B-D syringe (26.59 mm) [inferred].
MIN_SPEED_MM_MIN = 0.73 / (math.pi / 4 * 4.78**2) / 60
MAX_SPEED_MM_MIN = 1699e3 / (math.pi / 4 * 26.59**2) / 60
#: Volume units switch from µL to mL above this inner diameter [manual].
UL_MAX_DIAMETER_MM = 14.0
DIAMETER_RANGE_MM = (0.1, 80.0)
#: µL/min per unit of each rate code.
RATE_UNITS = {"UM": 1.0, "MM": 1000.0, "UH": 1 / 60, "MH": 1000 / 60}
VOLUME_UNITS = {"UL": 1.0, "ML": 1000.0}
FIRMWARE = "NE1000V3.928"
INTER_BYTE_TIMEOUT_S = 0.5

_NUMBER = re.compile(r"(\d*)\.?(\d*)")


def rate_limits_uL_min(diameter_mm: float) -> tuple[float, float]:
    """(min, max) pumping rate in µL/min for a syringe of inner diameter ``diameter_mm``."""
    area = math.pi / 4 * diameter_mm**2
    return area * MIN_SPEED_MM_MIN, area * MAX_SPEED_MM_MIN


def crc16(data: bytes) -> bytes:
    """CRC-16/XMODEM of ``data``, high byte first, as in a safe-mode frame."""
    return binascii.crc_hqx(data, 0).to_bytes(2, "big")


def safe_frame(payload: bytes) -> bytes:
    """``STX len payload CRC-hi CRC-lo ETX``; ``len`` counts itself, payload, CRC and ETX."""
    return bytes([STX, len(payload) + 4]) + payload + crc16(payload) + bytes([ETX])


def format_number(value: float) -> str:
    """A reply number: four significant digits and always a point ("4.610", "30.00", "1234.")."""
    value = max(value, 0.0)
    for decimals, limit in ((3, 10), (2, 100), (1, 1000)):
        if round(value, decimals) < limit:
            return f"{value:.{decimals}f}"
    return f"{value:.0f}."


def parse_number(text: str) -> float | None:
    """A command number (≤ 4 digits, ≤ 3 decimals), or None when malformed or too long."""
    match = _NUMBER.fullmatch(text)
    if not text or match is None or text == ".":
        return None
    whole, frac = match.groups()
    if len(whole) + len(frac) > 4 or len(frac) > 3:
        return None
    return float(text)


class _Ignored(Exception):
    """The command is dropped without a reply."""


class NE1000Device:
    """The pump's state machine: ``receive(bytes) -> bytes`` and ``poll() -> bytes``."""

    def __init__(
        self,
        clock: Clock,
        *,
        address: int = 0,
        syringe_volume_uL: float = 1000.0,
        diameter_mm: float = 4.61,
        powered_up: bool = True,
        link_clock: Clock | None = None,
        firmware: str = FIRMWARE,
        saf_reply: str = "new",
    ) -> None:
        if saf_reply not in ("new", "old"):
            raise ValueError(f"saf_reply must be 'new' or 'old', got {saf_reply!r}")
        self.clock = clock
        self.link_clock = link_clock or Clock(1.0)
        self.address = address
        self.firmware = firmware
        self.saf_reply = saf_reply
        self._lock = threading.RLock()
        # Settings kept in NVRAM (survive power_cycle).
        self.diameter_mm = diameter_mm
        self.volume_units = "UL" if diameter_mm <= UL_MAX_DIAMETER_MM else "ML"
        self.rate_value, self.rate_units = 0.0, "UM"
        self.target_volume = 0.0  # in volume_units; 0 = continuous
        self.direction = "INF"
        self.safe_timeout_s = 0
        # Syringe contents: starts full.
        self.syringe_volume_uL = syringe_volume_uL
        self.content_uL = syringe_volume_uL
        self._reset_volatile(t=clock.now())
        self._ignore_next = powered_up
        self.alarm: str | None = "A?R" if powered_up else None
        self._buffer = bytearray()
        self._last_byte_t = self.link_clock.now()
        self._last_packet_t = self.link_clock.now()
        self._watchdog_armed = not powered_up
        self._unsolicited = bytearray()
        #: Every byte string passed to ``receive`` (for tests that pin the wire).
        self.received: list[bytes] = []

    def _reset_volatile(self, t: float) -> None:
        self.state = "S"  # S stopped, P paused, I infusing, W withdrawing, X purging
        self.infused_uL = 0.0
        self.withdrawn_uL = 0.0
        self._run_uL = 0.0
        self._t = t

    # -- physics ------------------------------------------------------------
    @property
    def rate_uL_min(self) -> float:
        return self.rate_value * RATE_UNITS[self.rate_units]

    def _pumping_rate(self) -> float:
        if self.state == "X":
            return rate_limits_uL_min(self.diameter_mm)[1]
        return self.rate_uL_min if self.state in ("I", "W") else 0.0

    def _moving_direction(self) -> str:
        if self.state == "W":
            return "WDR"
        return self.direction if self.state == "X" else "INF"

    def _advance(self, t: float | None = None) -> None:
        """Integrate the dispensed volume up to clock time ``t``; stop on target or stall."""
        t = self.clock.now() if t is None else t
        if t <= self._t:
            return
        rate = self._pumping_rate()
        if rate > 0:
            volume = rate * (t - self._t) / 60.0
            infusing = self._moving_direction() == "INF"
            room = self.content_uL if infusing else self.syringe_volume_uL - self.content_uL
            target_left = math.inf
            if self.target_volume > 0 and self.state != "X":
                target = self.target_volume * VOLUME_UNITS[self.volume_units]
                target_left = max(target - self._run_uL, 0.0)
            step = min(volume, room, target_left)
            if infusing:
                self.infused_uL += step
                self.content_uL -= step
            else:
                self.withdrawn_uL += step
                self.content_uL += step
            self._run_uL += step
            if step == room and room < volume:
                self._raise_alarm("A?S")
            elif step == target_left and target_left < volume:
                self.state, self._run_uL = "S", 0.0
        self._t = t

    def flow_uL_min(self, t: float | None = None) -> float:
        """Flow out of the syringe (µL/min) at clock time ``t``; 0 unless infusing."""
        with self._lock:
            self._advance(t)
            if self._moving_direction() == "INF" and self.state in ("I", "X"):
                return self._pumping_rate()
            return 0.0

    # -- faults -------------------------------------------------------------
    def _raise_alarm(self, code: str) -> None:
        self.state = "S"
        self._run_uL = 0.0
        self.alarm = code
        log.info("alarm %s", code)
        if self.safe_timeout_s:
            self._unsolicited += self._frame(self._reply_text(""), safe=True)

    def stall(self) -> None:
        """Force a motor stall: the pump stops and raises ``A?S``."""
        with self._lock:
            self._advance()
            self._raise_alarm("A?S")

    def power_cycle(self) -> None:
        """Power off and on: motion and counters reset, NVRAM settings kept, ``A?R`` pending.

        In safe mode (kept in NVRAM) the reset alarm is also sent unsolicited,
        and the watchdog waits for the first valid packet before it runs.
        """
        with self._lock:
            self._advance()
            self._reset_volatile(self.clock.now())
            self._buffer.clear()
            self._unsolicited.clear()
            self._ignore_next = True
            self.alarm = "A?R"
            self._watchdog_armed = False
            if self.safe_timeout_s:
                self._unsolicited += self._frame(self._reply_text(""), safe=True)

    def empty(self) -> None:
        """The syringe runs out: an infusing pump stalls (``A?S``) at once."""
        with self._lock:
            self._advance()
            self.content_uL = 0.0
            if self.state in ("I", "X") and self._moving_direction() == "INF":
                self._raise_alarm("A?S")

    def refill(self, volume_uL: float | None = None) -> None:
        """Load a fresh syringe holding ``volume_uL`` (default: full)."""
        with self._lock:
            self._advance()
            self.content_uL = self.syringe_volume_uL if volume_uL is None else volume_uL

    # -- serial device protocol ------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        with self._lock:
            self.received.append(bytes(data))
            now = self.link_clock.now()
            if (
                (self.safe_timeout_s or self._buffer[:1] == bytes([STX]))
                and self._buffer
                and now - self._last_byte_t > INTER_BYTE_TIMEOUT_S
            ):
                self._buffer.clear()
            self._last_byte_t = now
            self._buffer += data
            out = bytearray()
            for payload, frame_ok, safe in self._packets():
                out += self._answer(payload, frame_ok, safe)
            return bytes(out)

    def poll(self) -> bytes:
        with self._lock:
            self._advance()
            if (
                self.safe_timeout_s
                and self._watchdog_armed
                and self.alarm != "A?T"
                and self.link_clock.now() - self._last_packet_t > self.safe_timeout_s
            ):
                self._raise_alarm("A?T")
            out, self._unsolicited = bytes(self._unsolicited), bytearray()
            return out

    def _packets(self):
        """Complete packets in the buffer: (payload, frame valid, arrived in safe framing)."""
        while True:
            if self.safe_timeout_s or self._buffer[:1] == bytes([STX]):
                # Safe mode takes only framed packets; basic mode takes one too when a
                # packet starts with STX (nesp-lib's first SAF is framed whatever the mode).
                start = self._buffer.find(bytes([STX]))
                if start < 0:
                    self._buffer.clear()
                    return
                del self._buffer[:start]
                if len(self._buffer) < 2 or len(self._buffer) < 1 + self._buffer[1]:
                    return
                length = self._buffer[1]
                frame = bytes(self._buffer[: 1 + length])
                del self._buffer[: 1 + length]
                if length < 4:
                    yield b"", False, True
                    continue
                payload, crc = frame[2:-3], frame[-3:-1]
                yield payload, frame[-1] == ETX and crc16(payload) == crc, True
            else:
                end = self._buffer.find(bytes([CR]))
                if end < 0:
                    return
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                yield line, True, False

    # -- command execution -----------------------------------------------------
    def _reply_text(self, body: str) -> str:
        prompt = self.alarm if self.alarm else self.state
        return f"{self.address:02d}{prompt}{body}"

    def _frame(self, text: str, safe: bool) -> bytes:
        data = text.encode("ascii")
        return safe_frame(data) if safe else bytes([STX]) + data + bytes([ETX])

    def _answer(self, payload: bytes, frame_ok: bool, safe: bool) -> bytes:
        self._advance()
        if not frame_ok:
            return self._frame(f"{self.address:02d}{self.state}?COM", safe)
        self._last_packet_t = self.link_clock.now()
        self._watchdog_armed = True
        text = "".join(ch for ch in payload.decode("latin-1") if " " < ch <= "~").upper()
        match = re.fullmatch(r"(\*|\d{1,2})?([A-Z]{3})?(.*)", text)
        address, command, arg = match.groups()
        if address not in (None, "*") and int(address) != self.address:
            return b""
        if self._ignore_next:
            self._ignore_next = False
            log.info("first command after power-up ignored: %r", text)
            return b""
        mode_before = self.safe_timeout_s
        try:
            body = self._execute(command or "", arg)
        except _Ignored:
            return b""
        if self.safe_timeout_s != mode_before:  # SAF changed the mode
            framed_safe = bool(self.safe_timeout_s) if self.saf_reply == "new" else safe
        else:
            framed_safe = bool(self.safe_timeout_s)
        return self._frame(body, safe=framed_safe)

    def _execute(self, command: str, arg: str) -> str:
        handler = getattr(self, f"_cmd_{command.lower()}", None) if command else self._cmd_status
        if handler is None or (not command and arg):
            return self._reply_text("?")
        if self.alarm:
            # A valid command acknowledges the alarm: reported once, not executed.
            text = self._reply_text("")
            self.alarm = None
            return text
        error, data = handler(arg)
        return self._reply_text(f"?{error}" if error is not None else data)

    # Each handler returns (error code or None, reply data).
    def _cmd_status(self, arg: str):
        return None, ""

    def _cmd_ver(self, arg: str):
        return (None, self.firmware) if not arg else ("", "")

    def _running(self) -> bool:
        return self.state in ("I", "W", "X")

    def _cmd_dia(self, arg: str):
        if not arg:
            return None, format_number(self.diameter_mm)
        value = parse_number(arg)
        if value is None:
            return "", ""
        if self._running():
            return "NA", ""
        if not DIAMETER_RANGE_MM[0] <= value <= DIAMETER_RANGE_MM[1]:
            return "OOR", ""
        self.diameter_mm = value
        self.volume_units = "UL" if value <= UL_MAX_DIAMETER_MM else "ML"
        return None, ""

    def _cmd_rat(self, arg: str):
        if not arg:
            return None, format_number(self.rate_value) + self.rate_units
        match = re.fullmatch(r"([\d.]+)(UM|MM|UH|MH)?", arg)
        value = parse_number(match.group(1)) if match else None
        if value is None:
            return "", ""
        units = match.group(2) or self.rate_units
        if units != self.rate_units and self._running():
            return "NA", ""
        low, high = rate_limits_uL_min(self.diameter_mm)
        rate = value * RATE_UNITS[units]
        if not low * (1 - 1e-9) <= rate <= high * (1 + 1e-9):
            return "OOR", ""
        self.rate_value, self.rate_units = value, units
        return None, ""

    def _cmd_vol(self, arg: str):
        if not arg:
            return None, format_number(self.target_volume) + self.volume_units
        if arg in VOLUME_UNITS:
            if self._running():
                return "NA", ""
            self.volume_units = arg
            return None, ""
        value = parse_number(arg)
        if value is None:
            return "", ""
        self.target_volume = value
        return None, ""

    def _cmd_dir(self, arg: str):
        if not arg:
            return None, self.direction
        if arg not in ("INF", "WDR", "REV"):
            return "", ""
        if self._running() and (self.target_volume > 0 or self.state == "X"):
            return "NA", ""
        if arg == "REV":
            arg = "WDR" if self.direction == "INF" else "INF"
        self.direction = arg
        if self.state in ("I", "W"):  # pumping continuously: the motor reverses
            self.state = "I" if arg == "INF" else "W"
        return None, ""

    def _cmd_run(self, arg: str):
        if arg and arg != "1":
            return "NA", ""  # program phases are not modelled
        if self.state in ("S", "P"):
            low, high = rate_limits_uL_min(self.diameter_mm)
            if not low * (1 - 1e-9) <= self.rate_uL_min <= high * (1 + 1e-9):
                return "OOR", ""
            if self.state == "S":
                self._run_uL = 0.0
            self.state = "I" if self.direction == "INF" else "W"
        return None, ""

    def _cmd_stp(self, arg: str):
        if arg:
            return "", ""
        if self.state in ("I", "W"):
            self.state = "P"
        elif self.state == "S":
            return "NA", ""  # already stopped: what real pumps answer
        else:
            self.state, self._run_uL = "S", 0.0
        return None, ""

    def _cmd_pur(self, arg: str):
        if arg:
            return "", ""
        self.state = "X"
        return None, ""

    def _cmd_dis(self, arg: str):
        if arg:
            return "", ""
        scale = VOLUME_UNITS[self.volume_units]
        inf, wdr = format_number(self.infused_uL / scale), format_number(self.withdrawn_uL / scale)
        return None, f"I{inf}W{wdr}{self.volume_units}"

    def _cmd_cld(self, arg: str):
        if arg == "INF":
            self.infused_uL = 0.0
        elif arg == "WDR":
            self.withdrawn_uL = 0.0
        else:
            return "", ""
        return None, ""

    def _cmd_saf(self, arg: str):
        if not arg:
            return None, str(self.safe_timeout_s)
        if not arg.isdigit():
            return "", ""
        value = int(arg)
        if value > 255:
            return "OOR", ""
        self.safe_timeout_s = value
        self._buffer.clear()
        return None, ""


class SimulatedNE1000(PtySimulator):
    """A simulated NE-1000 on a pty: ``start()``, ``.path``, ``rig_settings()``, ``close()``."""

    def __init__(
        self,
        clock: Clock,
        syringe_volume_uL: float = 1000.0,
        directory: str | None = None,
        *,
        syringe_diameter_mm: float = 4.61,
        address: int = 0,
        baudrate: int = 19200,
        powered_up: bool = True,
        link_clock: Clock | None = None,
        name: str = "ne1000",
        firmware: str = FIRMWARE,
        saf_reply: str = "new",
    ) -> None:
        self.device = NE1000Device(
            clock,
            address=address,
            syringe_volume_uL=syringe_volume_uL,
            diameter_mm=syringe_diameter_mm,
            powered_up=powered_up,
            link_clock=link_clock,
            firmware=firmware,
            saf_reply=saf_reply,
        )
        self.port = PtyPort(self.device, name, directory)
        self.baudrate = baudrate

    #: a pump chained on another's line (``chained_pumps``): that pump starts and closes it
    on_line = False

    def start(self) -> SimulatedNE1000:
        if not self.on_line:
            self.port.start()
        return self

    def close(self) -> None:
        if not self.on_line:
            self.port.close()

    def flow_uL_min(self, t: float | None = None) -> float:
        return self.device.flow_uL_min(t)

    def rig_settings(self) -> dict:
        """The rig-file table that opens this pump (the pty is 8N1 whatever the real link)."""
        return {
            "driver": "ne1000",
            "port": self.path,
            "baudrate": self.baudrate,
            "address": self.device.address,
            "timeout_s": 1.0,
            "safe_mode_s": 0,
            "syringe_diameter_mm": self.device.diameter_mm,
            "syringe_volume_uL": self.device.syringe_volume_uL,
        }


class PumpNetwork:
    """NE-1000 pumps chained on one RS-232 line (a ``SerialDevice``): every byte reaches
    every pump; only the pump a command addresses answers (the others stay silent, as the
    manual's network describes)."""

    def __init__(self, devices: list[NE1000Device]) -> None:
        self.devices = list(devices)

    def receive(self, data: bytes) -> bytes:
        return b"".join(device.receive(data) for device in self.devices)

    def poll(self) -> bytes:
        return b"".join(device.poll() for device in self.devices)


def chained_pumps(clock: Clock, n: int, directory: str | None = None, *,
                  name: str = "ne1000", **options) -> list[SimulatedNE1000]:
    """``n`` simulated pumps at network addresses 0 … n-1 on one pty (one RS-232 line): the
    first owns the port (starts and closes it); a link fault on it is every pump's."""
    pumps = [SimulatedNE1000(clock, directory=directory, name=name, address=0, **options)]
    for k in range(1, n):
        member = SimulatedNE1000.__new__(SimulatedNE1000)
        member.device = NE1000Device(clock, address=k,
                                     syringe_volume_uL=pumps[0].device.syringe_volume_uL,
                                     diameter_mm=pumps[0].device.diameter_mm)
        member.port = pumps[0].port
        member.baudrate = pumps[0].baudrate
        member.on_line = True
        pumps.append(member)
    pumps[0].port.device = PumpNetwork([p.device for p in pumps])
    return pumps


_CONSOLE_HELP = """faults: power_cycle | stall | empty | refill [uL] | unplug | plug | garbage |
        slow <s> | lose [n] | flow | quit"""


def main(argv: list[str] | None = None) -> int:
    """Serve a simulated pump and apply faults typed on stdin."""
    import argparse

    parser = argparse.ArgumentParser(description="Simulated New Era NE-1000 on a pty.")
    parser.add_argument("--speed", type=float, default=1.0, help="clock speed factor")
    parser.add_argument("--volume", type=float, default=1000.0, help="syringe volume, µL")
    parser.add_argument("--diameter", type=float, default=4.61, help="syringe ID, mm")
    parser.add_argument("--dir", default=None, help="folder for the stable port path")
    args = parser.parse_args(argv)
    sim = SimulatedNE1000(
        Clock(args.speed), args.volume, args.dir, syringe_diameter_mm=args.diameter
    ).start()
    print(f"NE-1000 simulator at {sim.path}\n{_CONSOLE_HELP}", flush=True)
    actions = {
        "power_cycle": lambda a: sim.device.power_cycle(),
        "stall": lambda a: sim.device.stall(),
        "empty": lambda a: sim.device.empty(),
        "refill": lambda a: sim.device.refill(float(a[0]) if a else None),
        "unplug": lambda a: sim.port.unplug(),
        "plug": lambda a: sim.port.plug(),
        "garbage": lambda a: sim.port.inject_garbage(),
        "slow": lambda a: sim.port.slow_replies(float(a[0]) if a else 0.0),
        "lose": lambda a: sim.port.lose_replies(int(a[0]) if a else 1),
        "flow": lambda a: print(f"{sim.flow_uL_min():.4f} uL/min", flush=True),
    }
    try:
        while True:
            try:
                line = input()
            except EOFError:
                break
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            action = actions.get(words[0])
            if action is None:
                print(_CONSOLE_HELP, flush=True)
                continue
            try:
                action(words[1:])
            except ValueError as exc:
                print(f"bad argument: {exc}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
