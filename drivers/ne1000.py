"""New Era NE-1000 syringe pump over RS-232 (basic and safe mode).

The wire grammar is one declarative table (``COMMANDS``: command code, the
format of its argument, the pattern of its reply data); the class methods
only say which entry to use. Replies ``STX addr prompt [data|?err] ETX`` are
parsed by ``parse_reply``; error codes raise ``PumpCommandError`` and alarms
``InstrumentAlarm`` — except the power-up alarm ``A?R``, which is logged, is
acknowledged by being reported, and makes the driver resend the command it
displaced. A reply is read in whichever framing it arrives (basic or safe):
which framing answers ``SAF n`` is not documented. Stopping is idempotent: a
pump that is already stopped answers ``STP`` with ``?NA``, which means
stopped. Every inferred detail is listed in ``docs/drivers/ne1000.md``.
"""

from __future__ import annotations

import binascii
import logging
import math
import re
import threading
import time
from dataclasses import dataclass

from raphe.drivers import units
from raphe.drivers.base import PumpStatus, Syringe, SyringePump
from raphe.drivers.settings import REQUIRED, Setting
from raphe.drivers.transport import SerialTransport
from raphe.errors import (
    InputError,
    InstrumentAlarm,
    InstrumentError,
    InstrumentTimeout,
    ProtocolError,
    RapheError,
)

STX, ETX, CR = b"\x02", b"\x03", b"\r"
#: Longest safe-mode reply accepted (length byte); the longest real one (DIS) is ~25.
MAX_SAFE_LENGTH = 64

#: Volume units are µL up to this syringe inner diameter, mL above.
UL_MAX_DIAMETER_MM = 14.0
DIAMETER_RANGE_MM = (0.1, 80.0)

#: Rig-file keys: the one declaration of each setting.
SETTINGS: dict[str, Setting] = {
    "port": Setting(str, REQUIRED, "serial device path, e.g. /dev/ttyUSB0 or /dev/serial/by-id/..."),
    "baudrate": Setting(
        int, 19200, "baud rate, bit/s (the pump's default is 19200, 8N1)",
        choices=(300, 1200, 2400, 9600, 19200),
    ),
    "address": Setting(int, 0, "pump network address", minimum=0, maximum=99),
    "timeout_s": Setting(float, 1.0, "reply timeout per command, s", above=0),
    "safe_mode_s": Setting(
        int, 0, "safe-mode watchdog, s; 0 = basic mode", minimum=0, maximum=255
    ),
    "syringe_diameter_mm": Setting(
        float, REQUIRED, "syringe inner diameter, mm",
        minimum=DIAMETER_RANGE_MM[0], maximum=DIAMETER_RANGE_MM[1],
    ),
    "syringe_volume_uL": Setting(float, REQUIRED, "syringe nominal volume, µL", above=0),
}

#: Status prompt → role status.
PROMPTS = {
    "I": PumpStatus.INFUSING,
    "W": PumpStatus.WITHDRAWING,
    "S": PumpStatus.STOPPED,
    "P": PumpStatus.PAUSED,
    "T": PumpStatus.TIMED_PAUSE,
    "U": PumpStatus.TRIGGER_WAIT,
    "X": PumpStatus.PURGING,
}
ALARMS = {
    "A?R": "pump was reset (power-up or power loss)",
    "A?S": "motor stalled (syringe empty, blocked line or force too low)",
    "A?T": "safe-mode communication timeout, pump stopped",
    "A?E": "program error",
    "A?O": "program phase out of range",
}
ERRORS = {
    "?": "command not recognised",
    "?NA": "command not applicable now",
    "?OOR": "value out of range",
    "?COM": "invalid packet",
    "?IGN": "command ignored (simultaneous phase start)",
}
#: µL/min per unit of each rate code, in order of preference when equally precise.
RATE_UNITS = {"UM": 1.0, "UH": 1 / 60, "MM": 1000.0, "MH": 1000 / 60}
VOLUME_UNITS = {"UL": 1.0, "ML": 1000.0}

_NUM = r"\d+(?:\.\d*)?|\.\d+"


@dataclass(frozen=True)
class Command:
    """One command family: its code, argument format and reply-data pattern."""

    code: str
    argument: str = ""  # str.format template for the set/argument form
    reply: str = ""  # regex the reply data must match (query form)


COMMANDS: dict[str, Command] = {
    "status": Command(""),
    # "NE1000V3.928", or with a firmware upgrade "NE1000X2V3.928" (nesp-lib's pattern)
    "version": Command(
        "VER", reply=r"NE(?P<model>\d+)(?:X(?P<upgrade>\d*))?V(?P<firmware>\d+\.\d+)"
    ),
    "diameter": Command("DIA", "{}", rf"(?P<value>{_NUM})"),
    "rate": Command("RAT", "{}{}", rf"(?P<value>{_NUM})(?P<units>UM|MM|UH|MH)"),
    "volume": Command("VOL", "{}", rf"(?P<value>{_NUM})(?P<units>UL|ML)"),
    "direction": Command("DIR", "{}", r"(?P<direction>INF|WDR)"),
    "run": Command("RUN"),
    "stop": Command("STP"),
    "purge": Command("PUR"),
    "dispensed": Command(
        "DIS", reply=rf"I(?P<infused>{_NUM})W(?P<withdrawn>{_NUM})(?P<units>UL|ML)"
    ),
    "clear": Command("CLD", "{}"),
    "safe_mode": Command("SAF", "{}", r"(?P<value>\d{1,3})"),
}


class PumpCommandError(ProtocolError):
    """The pump refused a command; ``code`` is its error (``?``, ``?NA``, ``?OOR``, ...)."""

    def __init__(self, code: str, command: str, instrument: str = "", prompt: str = "") -> None:
        self.code = code
        self.command = command
        self.prompt = prompt
        super().__init__(f"{command!r} refused: {code} ({ERRORS.get(code, 'error')})", instrument)


@dataclass(frozen=True)
class Reply:
    """A parsed reply packet."""

    address: int
    prompt: str  # a status letter (I W S P T U X) or an alarm code (A?R ...)
    data: str = ""
    error: str | None = None

    @property
    def alarm(self) -> str | None:
        return self.prompt if self.prompt in ALARMS else None


_REPLY = re.compile(
    r"(?P<address>\d\d)(?P<prompt>A\?[RSTEO]|[IWSPTUX])(?P<data>[^?]*)(?P<error>\?(?:NA|OOR|COM|IGN)?)?"
)


def crc16(data: bytes) -> bytes:
    """CRC-16/XMODEM (CCITT polynomial, initial 0) of ``data``, high byte first."""
    return binascii.crc_hqx(data, 0).to_bytes(2, "big")


def safe_frame(payload: bytes) -> bytes:
    """A safe-mode packet: ``STX len payload CRC-hi CRC-lo ETX``, len counting itself to ETX."""
    if len(payload) + 4 > 255:
        raise ValueError(f"safe-mode payload too long: {len(payload)} bytes")
    return STX + bytes([len(payload) + 4]) + payload + crc16(payload) + ETX


def parse_reply(packet: bytes, safe: bool = False, instrument: str = "") -> Reply:
    """Parse one complete reply packet (basic or safe framing) or raise ``ProtocolError``."""
    if safe:
        if (
            len(packet) < 7
            or packet[:1] != STX
            or packet[-1:] != ETX
            or packet[1] != len(packet) - 1
        ):
            raise ProtocolError(f"malformed safe-mode reply {packet!r}", instrument)
        body, crc = packet[2:-3], packet[-3:-1]
        if crc16(body) != crc:
            raise ProtocolError(f"CRC mismatch in reply {packet!r}", instrument)
    else:
        if len(packet) < 5 or packet[:1] != STX or packet[-1:] != ETX:
            raise ProtocolError(f"malformed reply {packet!r}", instrument)
        body = packet[1:-1]
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(f"non-ASCII reply {packet!r}", instrument) from None
    match = _REPLY.fullmatch(text)
    if match is None or not all(" " <= ch <= "~" for ch in match["data"]):
        raise ProtocolError(f"unexpected reply {packet!r}", instrument)
    return Reply(int(match["address"]), match["prompt"], match["data"], match["error"])


def format_number(value: float) -> str | None:
    """``value`` as the pump writes numbers (≤ 4 digits, ≤ 3 decimals, no trailing zeros).

    None when it cannot be written, or would lose more than 0.05 % to rounding
    (or be rounded to zero).
    """
    if not (math.isfinite(value) and value > 0):
        return None
    for decimals in (3, 2, 1, 0):
        rounded = round(value, decimals)
        if len(str(int(rounded))) + decimals <= 4:
            if rounded == 0 or abs(rounded - value) > 5e-4 * value:
                return None
            text = f"{rounded:.{decimals}f}"
            return text.rstrip("0").rstrip(".") if decimals else text
    return None


def choose_rate(rate_uL_min: float, units: tuple[str, ...] = tuple(RATE_UNITS)) -> tuple[str, str]:
    """(number, unit code) writing ``rate_uL_min`` with the least rounding error.

    Raises ``InputError`` when no unit in ``units`` can express it.
    """
    best: tuple[float, str, str] | None = None
    for code in units:
        value = rate_uL_min / RATE_UNITS[code]
        text = format_number(value)
        if text is None:
            continue
        error = abs(float(text) - value) / value
        if best is None or error < best[0] - 1e-12:
            best = (error, text, code)
    if best is None:
        raise InputError(
            f"flow rate {rate_uL_min:g} µL/min cannot be written in pump units "
            f"{'/'.join(units)} (≤ 4 digits, ≤ 3 decimals)"
        )
    return best[1], best[2]


class NE1000(SyringePump):
    """A New Era NE-1000 (or NE-500/501/4000/1600, WPI Aladdin) on one serial port."""

    model = "NE-1000"
    SETTINGS = SETTINGS
    LATER = ("syringe_diameter_mm", "syringe_volume_uL")

    def __init__(
        self, port: str, *, name: str = "pump", probe_timeout_s: float = 0.2, **settings
    ) -> None:
        values = self._declared(name, port=port, **settings)
        self.name = name
        self.address = values["address"]
        self.safe_mode_s = values["safe_mode_s"]
        self.probe_timeout_s = probe_timeout_s
        # NE-1000 pumps chain on one RS-232 line by network address: pumps on one port
        # share it (opened once), each answering to its own address.
        self.transport = SerialTransport(
            port, name=name, baudrate=values["baudrate"], timeout=values["timeout_s"],
            shared=True, member=f"address {self.address}",
        )
        diameter, volume = values["syringe_diameter_mm"], values["syringe_volume_uL"]
        self._configured_syringe = (
            Syringe(diameter, volume) if diameter is not None and volume is not None else None
        )
        self._syringe: Syringe | None = None
        self._safe = False  # framing currently spoken
        self._handshaking = False
        self._prompt = "S"
        self._rate_units = "UM"
        self._direction: str | None = None
        self._last_io = 0.0
        self._deferred_alarm: InstrumentAlarm | None = None
        self._heartbeat_stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # -- construction -----------------------------------------------------------
    def open(self) -> NE1000:
        """Open the port and bring the pump to a known link state."""
        self.transport.open()
        try:
            self._handshake(first_connect=True)
        except BaseException:
            self.close()
            raise
        return self

    def _apply_settings(self) -> None:
        """The rig file's syringe is set on the pump (diameter, continuous dispensing) — or,
        on a pump found pumping (a run before this one ended without stopping it, e.g. a
        crash), adopted as it is: perfusion is never interrupted to open the rig."""
        if self._configured_syringe is None:
            return
        if self._prompt in ("I", "W", "X"):
            rate = self.rate_uL_min() if self._prompt == "I" else math.nan
            self._adopt(self._configured_syringe, opening=True)
            self.transport.log.warning(
                "adopted a pump already pumping (%s, %g µL/min): not stopped",
                {"I": "infusing", "W": "withdrawing", "X": "purging"}[self._prompt], rate)
            self.note_incident(f"found pumping at {rate:g} µL/min: adopted without stopping it")
        else:
            self.set_syringe(self._configured_syringe)

    def _adopt(self, syringe: Syringe, opening: bool = False) -> None:
        """A pumping pump refuses a new diameter (``?NA``): read it back and check it."""
        shown = float(self._query("diameter")["value"])
        if not math.isclose(shown, syringe.inner_diameter_mm, rel_tol=5e-4):
            message = (f"pumping with a {shown:g} mm syringe, {syringe.inner_diameter_mm:g} mm "
                       "configured")
            if opening:
                raise InputError(f"[{self.name}] is pumping with a {shown:g} mm syringe but the "
                                 f"rig file says {syringe.inner_diameter_mm:g} mm: stop the "
                                 "pump at its keypad (STOP), or correct syringe_diameter_mm, "
                                 "then open the rig again")
            raise ProtocolError(message, self.name)
        self._syringe = syringe

    def _handshake(self, first_connect: bool = False) -> None:
        """Find the framing the pump speaks, absorb the power-up quirks, set the mode, read state.

        After power-up the pump ignores the first command it sees and answers
        the next valid one with ``A?R``: a throw-away ``*DIS`` (its reply, if
        any, discarded after ``probe_timeout_s``) absorbs the first; the status
        query's ``A?R`` is acknowledged in ``_transact``.
        """
        with self.transport.transaction():
            self._handshaking = first_connect
            try:
                self._handshake_locked()
            finally:
                self._handshaking = False

    def _handshake_locked(self) -> None:
        last_error: Exception | None = None
        # Try the framing last spoken (basic at first), then the other: safe mode
        # survives a power cycle, so a pump may still expect safe-mode packets.
        for attempt, safe in enumerate((self._safe, not self._safe)):
            self._safe = safe
            self.transport.discard_input()
            # On the fallback to basic mode, a CR first ends any half line the pump holds.
            prefix = CR if attempt and not safe else b""
            self.transport.write(prefix + self._encode("*DIS"))
            try:
                self._note_alarm(self._read_reply(self.probe_timeout_s))
            except (InstrumentTimeout, ProtocolError):
                pass
            try:
                self._transact("", "")
                break
            except InstrumentTimeout as exc:
                last_error = exc
        else:
            raise last_error
        current = int(self._query("safe_mode")["value"])
        if current != self.safe_mode_s:
            self._transact("SAF", str(self.safe_mode_s))
            self._safe = self.safe_mode_s > 0
        self._rate_units = self._query("rate")["units"]
        self._direction = self._query("direction")["direction"]
        self._start_heartbeat()

    def _note_alarm(self, reply: Reply) -> None:
        """An alarm the throw-away command acknowledged: log it; keep all but A?R for the user."""
        if reply.alarm is None:
            return
        self.transport.log.warning("%s acknowledged: %s", reply.alarm, ALARMS[reply.alarm])
        if reply.alarm != "A?R":
            self._deferred_alarm = InstrumentAlarm(reply.alarm, ALARMS[reply.alarm], self.name)

    # -- wire ---------------------------------------------------------------------
    def _encode(self, text: str) -> bytes:
        data = text.encode("ascii")
        return safe_frame(data) if self._safe else data + CR

    def _read_reply(self, timeout: float) -> Reply:
        """One reply packet, in whichever framing it comes.

        After STX a basic reply continues with its address digits, a safe-mode
        reply with its length byte (far below ``"0"`` for any reply), so the
        two cannot be confused. The pump's framing of the ``SAF n`` reply (old
        or new mode) is undocumented; reading either makes that moot.
        """
        deadline = time.monotonic() + timeout
        first = self.transport.read_exact(1, timeout)
        if first != STX:
            junk = first + self._drain()
            raise ProtocolError(f"expected STX, got {junk!r}", self.name)
        second = self.transport.read_exact(1, max(deadline - time.monotonic(), 0.0))
        remaining = max(deadline - time.monotonic(), 0.0)
        if b"0" <= second <= b"9":
            packet = STX + second + self.transport.read_until(ETX, remaining, max_len=128)
            return parse_reply(packet, False, self.name)
        if not 7 <= second[0] <= MAX_SAFE_LENGTH:
            junk = STX + second + self._drain()
            raise ProtocolError(f"neither a basic nor a safe-mode reply: {junk!r}", self.name)
        rest = self.transport.read_exact(second[0] - 1, remaining)
        return parse_reply(STX + second + rest, True, self.name)

    def _drain(self) -> bytes:
        """Whatever else is waiting on the line (up to 64 bytes), to show it in an error."""
        junk = bytearray()
        while len(junk) < 64:
            try:
                junk += self.transport.read_exact(1, 0.01)
            except InstrumentTimeout:
                break
        return bytes(junk)

    def _transact(self, code: str, argument: str) -> Reply:
        """Send one command, return its reply; errors and alarms raise."""
        text = f"{self.address}{code}{argument}"
        with self.transport.transaction():
            for attempt in (1, 2):
                self.transport.discard_input()
                self.transport.write(self._encode(text))
                reply = self._read_reply(self.transport.timeout)
                self._last_io = time.monotonic()
                if reply.address != self.address:
                    raise ProtocolError(
                        f"reply from address {reply.address}, expected {self.address}", self.name
                    )
                if reply.alarm == "A?R" and reply.error is None and attempt == 1:
                    # Reported once, now acknowledged; the command was not executed.
                    # Expected when first connecting after power-up; on a reconnect it
                    # means a power loss the operator must know about.
                    level = logging.INFO if self._handshaking else logging.WARNING
                    self.transport.log.log(level, "A?R acknowledged: %s", ALARMS["A?R"])
                    self._prompt = "S"
                    continue
                break
            if reply.alarm is not None:
                if reply.error is None:
                    self._prompt = "S"
                raise InstrumentAlarm(reply.alarm, ALARMS[reply.alarm], self.name)
            self._prompt = reply.prompt
            if reply.error is not None:
                raise PumpCommandError(reply.error, code + argument, self.name, reply.prompt)
            return reply

    def command(self, key: str, *args: object) -> Reply:
        """Send ``COMMANDS[key]`` with ``args`` filled into its argument template."""
        entry = COMMANDS[key]
        argument = entry.argument.format(*args) if args else ""
        self._raise_deferred()
        return self._transact(entry.code, argument)

    def _query(self, key: str) -> dict[str, str]:
        """Send the query form of ``COMMANDS[key]``; its reply data parsed into named fields."""
        entry = COMMANDS[key]
        reply = self._transact(entry.code, "")
        match = re.fullmatch(entry.reply, reply.data)
        if match is None:
            raise ProtocolError(f"{entry.code} reply data {reply.data!r} not understood", self.name)
        return match.groupdict()

    def query(self, key: str) -> dict[str, str]:
        """Public query: ``COMMANDS[key]``'s reply fields (e.g. ``query("rate")``)."""
        self._raise_deferred()
        return self._query(key)

    # -- safe-mode heartbeat --------------------------------------------------------
    def _start_heartbeat(self) -> None:
        if self.safe_mode_s <= 0 or (self._heartbeat and self._heartbeat.is_alive()):
            return
        self._heartbeat_stop.clear()
        self._heartbeat = threading.Thread(
            target=self._beat, name=f"{self.name}-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def _beat(self) -> None:
        """Keep the safe-mode watchdog fed: a status query when idle for half its period."""
        period = self.safe_mode_s / 2
        while not self._heartbeat_stop.wait(period / 4):
            if time.monotonic() - self._last_io < period:
                continue
            try:
                self._transact("", "")
            except InstrumentAlarm as alarm:
                self._deferred_alarm = alarm
            except RapheError as exc:  # the next user command reports link errors itself
                self.transport.log.debug("heartbeat failed: %s", exc)
                self._last_io = time.monotonic()

    def _raise_deferred(self) -> None:
        alarm, self._deferred_alarm = self._deferred_alarm, None
        if alarm is not None:
            raise alarm

    # -- role interface ---------------------------------------------------------------
    def identity(self) -> dict[str, str]:
        fields = self.query("version")
        return {"model": f"NE-{fields['model']}", "serial": "", "firmware": fields["firmware"]}

    def set_syringe(self, syringe: Syringe) -> None:
        """Set the inner diameter on the pump (continuous dispensing: target volume 0)."""
        diameter = units.length_mm(syringe.inner_diameter_mm)
        volume = units.volume_uL(syringe.volume_uL)
        for key, value in (("syringe_diameter_mm", diameter), ("syringe_volume_uL", volume)):
            try:
                SETTINGS[key].check(value)
            except ValueError as exc:
                raise InputError(f"{self.name}: {key} {exc}") from None
        text = format_number(diameter)
        if text is None:
            raise InputError(f"{self.name}: syringe diameter {diameter:g} mm is not writable "
                             "with 4 digits")
        with self.transport.transaction():
            self.command("diameter", text)
            self.command("volume", "0")
        self._syringe = Syringe(diameter, volume)

    @property
    def volume_units(self) -> str:
        """Volume units the pump uses for this syringe: UL up to 14.00 mm, ML above."""
        if self._syringe is None or self._syringe.inner_diameter_mm <= UL_MAX_DIAMETER_MM:
            return "UL"
        return "ML"

    def set_target_volume(self, volume) -> None:
        """Volume to dispense per run (µL, pint or string); 0 = run until stopped."""
        uL = units.volume_uL(volume)
        if uL == 0:
            self.command("volume", "0")
            return
        value = uL / VOLUME_UNITS[self.volume_units]
        text = format_number(value)
        if text is None:
            raise InputError(
                f"{self.name}: volume {uL:g} µL cannot be written in {self.volume_units} "
                "(≤ 4 digits, ≤ 3 decimals)"
            )
        self.command("volume", text)

    def set_rate(self, rate) -> None:
        """Pumping rate: float µL/min, pint quantity, or a string such as ``"90 uL/h"``.

        The unit code is chosen to keep the most digits; while pumping the pump
        refuses a unit change, so the current unit is kept if it can hold the rate.
        """
        uL_min = units.flow_uL_min(rate)
        if uL_min <= 0:
            raise InputError(f"{self.name}: flow rate must be > 0 µL/min (use stop() to stop)")
        allowed = (self._rate_units,) if self._prompt in ("I", "W", "X") else tuple(RATE_UNITS)
        try:
            number, code = choose_rate(uL_min, allowed)
        except InputError:
            raise InputError(
                f"{self.name}: {uL_min:g} µL/min cannot be written in {self._rate_units} while "
                "pumping; stop the pump to change units"
            ) from None
        self.command("rate", number, code)
        self._rate_units = code

    def rate_uL_min(self) -> float:
        fields = self.query("rate")
        self._rate_units = fields["units"]
        return float(fields["value"]) * RATE_UNITS[fields["units"]]

    def _run(self, direction: str) -> None:
        if self._direction != direction:
            if self._prompt in ("I", "W", "X"):
                self.pause()
            self.command("direction", direction)
            self._direction = direction
        self.command("run")

    def infuse(self) -> None:
        self._run("INF")

    def withdraw(self) -> None:
        self._run("WDR")

    def pause(self) -> None:
        """Pause a running pump (one STP); a stopped or paused pump is left as it is."""
        with self.transport.transaction():
            if self.command("status").prompt in ("I", "W", "X"):
                self.command("stop")

    def stop(self) -> None:
        """Stop, whatever the pump is doing; never fails because it is already stopped.

        ``STP`` pauses a running pump and stops a paused one; a stopped pump
        answers ``?NA`` (not applicable), which here means "stopped". An alarm
        (stall, safe-mode timeout, reset) has stopped the pump already: it is
        logged, acknowledged by being reported, and the stop is confirmed.
        """
        with self.transport.transaction():
            for _ in range(4):
                try:
                    prompt = self._transact(COMMANDS["stop"].code, "").prompt
                except PumpCommandError as exc:
                    if exc.code == "?NA" and exc.prompt == "S":
                        self._prompt = "S"
                        return
                    if exc.code != "?NA":
                        raise
                    prompt = exc.prompt
                except InstrumentAlarm as alarm:
                    self.transport.log.warning("stopping: %s (the pump is stopped)", alarm)
                    continue
                if prompt == "S":
                    return
            if self.command("status").prompt != "S":
                raise InstrumentError("the pump did not stop after repeated STP", self.name)

    def dispensed_uL(self) -> tuple[float, float]:
        fields = self.query("dispensed")
        scale = VOLUME_UNITS[fields["units"]]
        return float(fields["infused"]) * scale, float(fields["withdrawn"]) * scale

    def clear_dispensed(self) -> None:
        self.command("clear", "INF")
        self.command("clear", "WDR")

    def status(self) -> PumpStatus:
        return PROMPTS[self.command("status").prompt]

    @classmethod
    def rate_limits_uL_min(cls, diameter_mm: float) -> tuple[float, float]:
        """Slowest and fastest flow (µL/min) the NE-1000 drives a syringe of
        ``diameter_mm`` at: its plunger speed range × the syringe's cross-section."""
        return rate_limits_uL_min(diameter_mm)

    def reconnect(self) -> None:
        """Reopen the same port path and re-read the pump's state.

        A stopped pump gets its syringe again (it may have been power-cycled); a pump that
        kept pumping through the unplug refuses a new diameter (``?NA``), so its diameter is
        only read back and checked.
        """
        with self.transport.transaction():
            self.transport.reopen()
            self._handshake()
            syringe = self._syringe or self._configured_syringe
            if syringe is None:
                return
            # An alarm the handshake acknowledged is for the user's next call, not this one.
            deferred, self._deferred_alarm = self._deferred_alarm, None
            try:
                if self._prompt in ("I", "W", "X"):
                    self._adopt(syringe)
                else:
                    self.set_syringe(syringe)
            finally:
                self._deferred_alarm = deferred

    def close(self) -> None:
        self._heartbeat_stop.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join(timeout=2)
        self.transport.close()


#: Plunger speeds the NE-1000 can drive, mm/h: from the manual's specification (0.73 µL/h
#: with a B-D 1 mL syringe, 4.699 mm; 1699 mL/h with a B-D 60 mL syringe, 26.59 mm) [I].
PLUNGER_SPEED_MM_H = (0.73 / (math.pi / 4 * 4.699**2), 1_699_000 / (math.pi / 4 * 26.59**2))


def rate_limits_uL_min(diameter_mm: float) -> tuple[float, float]:
    """Slowest and fastest flow (µL/min) the pump drives a syringe of ``diameter_mm`` at."""
    area = math.pi / 4 * diameter_mm**2
    low, high = PLUNGER_SPEED_MM_H
    return area * low / 60.0, area * high / 60.0
