"""Keysight 34465A DMM simulator: a stateful SCPI server on loopback TCP (raw socket, port 5025 style).

The driver opens it with pyvisa-py as ``TCPIP::127.0.0.1::<port>::SOCKET``
exactly as it opens the real instrument. Commands are "\\n"-terminated SCPI
with short/long forms, optional nodes and case-insensitivity; several
commands may share a line separated by ";".

Acquisition model (DC volts, ``TRIG:SOUR IMM``, ``SAMP:SOUR TIM``): after
``INIT`` at clock time ``t_init`` sample ``k`` is taken at
``t_init + k * SAMP:TIM`` until ``SAMP:COUN * TRIG:COUN`` readings exist
(successive triggers follow without a gap). Readings are computed lazily from
the shared ``Clock`` whenever a command arrives, so no sampling thread runs.
Reading memory holds 50,000 readings; on overflow the oldest readings are
overwritten, no error is queued, and bit 14 ("Reading Mem Ovfl") of the
Questionable Data register is set, as the Truevolt manuals describe.
``INIT`` and ``*RST`` clear reading memory; ``DATA:REM? n`` pops the oldest
``n`` readings and asks for no more than are stored (else ``-222``, no reply).
A reading beyond 120 % of the range is the overload value ``±9.9E37``.

Link faults: :meth:`drop_connection`, :meth:`drop_on_next_command`,
:meth:`garbage_replies`, :meth:`slow_replies`, :meth:`lose_replies`;
instrument fault: :meth:`force_overload`. Every command line received is
recorded in :attr:`received` so tests can pin the exact traffic.
"""

from __future__ import annotations

import logging
import math
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Self

import numpy as np

from raphe.clock import Clock
from raphe.simulators.signal import ConstantNoise, SignalSource

log = logging.getLogger("raphe.simulators.dmm34465a")

MEMORY_READINGS = 50_000
OVERLOAD = 9.9e37
QUES_MEM_OVERFLOW = 1 << 14
IDN = "Keysight Technologies,34465A,MY59001234,A.03.03-03.15-03.03-00.52-03-02"
RANGES_V = (0.1, 1.0, 10.0, 100.0, 1000.0)
NPLC_VALUES = (0.02, 0.06, 0.2, 1.0, 10.0, 100.0)  # 0.001-0.006 need the DIG option
SAMPLE_TIMER_MIN_S = 20e-6  # [I] datasheet figure without DIG; SAMP:TIM? MIN reports it
SAMPLE_TIMER_MAX_S = 3600.0
MAX_COUNT = 1_000_000

ERRORS = {
    -104: "Data type error",
    -109: "Missing parameter",
    -113: "Undefined header",
    -222: "Data out of range",
    -350: "Error queue overflow",
}


class ScpiError(Exception):
    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(f'{code:+d},"{ERRORS[code]}"')


# -- SCPI header matching ---------------------------------------------------------
def _node(spec: str) -> tuple[str, str, bool]:
    """``"[SENSe]"`` -> ("SENS", "SENSE", optional)."""
    optional = spec.startswith("[")
    word = spec.strip("[]")
    short = "".join(c for c in word if c.isupper() or c.isdigit() or c in "*?")
    return short.upper(), word.upper(), optional


def _compile(pattern: str) -> list[tuple[str, str, bool]]:
    return [_node(part) for part in pattern.replace("[:", ":[").split(":")]


def _matches(nodes: list[tuple[str, str, bool]], words: list[str]) -> bool:
    if not nodes:
        return not words
    short, long, optional = nodes[0]
    if words and words[0] in (short, long) and _matches(nodes[1:], words[1:]):
        return True
    return optional and _matches(nodes[1:], words)


@dataclass
class _State:
    range_v: float = 10.0
    autorange: bool = True
    nplc: float = 10.0
    autozero: str = "ON"
    trig_source: str = "IMM"
    trig_count: float = 1  # math.inf for INFinity
    trig_delay: float = 0.0
    samp_source: str = "IMM"
    samp_timer: float = 1.0
    samp_count: int = 1


@dataclass
class _Run:
    t_init: float
    total: float  # readings this INIT will take (may be inf)
    taken: int = 0


@dataclass
class Faults:
    """Pending link faults, consumed as replies/commands go by."""

    drop_next: bool = False
    garbage: list[tuple[str, bytes]] = field(default_factory=list)  # (command prefix, bytes)
    lose: int = 0
    delay_s: float = 0.0


class DMM34465ADevice:
    """The instrument's state machine: one SCPI line in, an optional reply line out."""

    def __init__(self, clock: Clock, source: SignalSource | None = None) -> None:
        self.clock = clock
        self.source: SignalSource = source if source is not None else ConstantNoise(0.0, 0.0)
        self._lock = threading.RLock()
        self.state = _State()
        self.errors: list[int] = []
        self.ques_event = 0
        self.ques_cond = 0
        self._memory = np.empty(0, dtype=np.float64)
        self._run: _Run | None = None
        self.t_init: float | None = None  # clock time of the last INIT: sample k at t_init + k*dt
        self.init_times: list[float] = []  # every INIT, for tests
        self._overload_spans: list[tuple[float, float]] = []
        self.readings_taken = 0  # over the simulator's life, for tests and benchmarks
        self.readings_overwritten = 0
        self._table = [(_compile(p), q, h) for p, q, h in self._commands()]

    # -- faults -------------------------------------------------------------
    def force_overload(self, t_start: float, t_end: float) -> None:
        """Readings taken at clock times in [t_start, t_end) read +9.9E37."""
        with self._lock:
            self._overload_spans.append((float(t_start), float(t_end)))

    # -- acquisition ----------------------------------------------------------
    @property
    def running(self) -> bool:
        with self._lock:
            self._advance()
            return self._run is not None

    def _advance(self) -> None:
        run = self._run
        if run is None:
            return
        dt = self.state.samp_timer
        due = math.floor((self.clock.now() - run.t_init) / dt + 1e-9) + 1
        due = int(min(due, run.total))
        if due <= run.taken:
            return
        first = run.taken
        if due - first > MEMORY_READINGS:  # older ones would be overwritten at once: skip them
            skipped = due - MEMORY_READINGS - first
            first += skipped
            self.readings_taken += skipped
            self.readings_overwritten += skipped + len(self._memory)
            self._memory = np.empty(0)
            self.ques_cond |= QUES_MEM_OVERFLOW
            self.ques_event |= QUES_MEM_OVERFLOW
        k = np.arange(first, due, dtype=np.float64)
        t = run.t_init + k * dt
        v = np.asarray(self.source.volts(t), dtype=np.float64)
        limit = 1.2 * (RANGES_V[-1] if self.state.autorange else self.state.range_v)
        v = np.where(np.abs(v) > limit, np.copysign(OVERLOAD, v), v)
        for a, b in self._overload_spans:
            v[(t >= a) & (t < b)] = OVERLOAD
        self.readings_taken += len(v)
        run.taken = due
        mem = np.concatenate([self._memory, v]) if len(self._memory) else v
        if len(mem) > MEMORY_READINGS:
            lost = len(mem) - MEMORY_READINGS
            self.readings_overwritten += lost
            mem = mem[lost:]
            self.ques_cond |= QUES_MEM_OVERFLOW
            self.ques_event |= QUES_MEM_OVERFLOW
        self._memory = mem
        if run.taken >= run.total:
            self._run = None

    # -- command processing -------------------------------------------------
    def handle(self, line: str) -> str | None:
        """Execute one line (possibly ``;``-separated); return the reply or None."""
        replies = []
        with self._lock:
            self._advance()
            for unit in line.split(";"):
                unit = unit.strip()
                if not unit:
                    continue
                try:
                    reply = self._execute(unit)
                except ScpiError as exc:
                    self._push_error(exc.code)
                    reply = None
                if reply is not None:
                    replies.append(reply)
        return ";".join(replies) if replies else None

    def _push_error(self, code: int) -> None:
        if len(self.errors) >= 20:
            self.errors[-1] = -350
        else:
            self.errors.append(code)

    def _execute(self, unit: str) -> str | None:
        header, _, arg = unit.partition(" ")
        arg = arg.strip()
        query = header.endswith("?")
        words = header.rstrip("?").lstrip(":").upper().split(":")
        for nodes, is_query, handler in self._table:
            if is_query == query and _matches(nodes, words):
                return handler(arg)
        raise ScpiError(-113)

    def _commands(self):
        s = self
        return [
            ("*IDN", True, lambda a: IDN),
            ("*RST", False, s._rst),
            ("*CLS", False, s._cls),
            ("*OPC", True, lambda a: "1"),
            ("SYSTem:ERRor[:NEXT]", True, s._next_error),
            ("CONFigure[:VOLTage][:DC]", False, s._configure),
            ("CONFigure", True, lambda a: f'"VOLT {s.state.range_v:+.8E},{3e-7 * s.state.range_v:+.8E}"'),
            ("[SENSe]:VOLTage[:DC]:NPLCycles", False, s._set_nplc),
            ("[SENSe]:VOLTage[:DC]:NPLCycles", True, lambda a: f"{s.state.nplc:+.8E}"),
            ("[SENSe]:VOLTage[:DC]:RANGe", False, s._set_range),
            ("[SENSe]:VOLTage[:DC]:RANGe", True, lambda a: f"{s.state.range_v:+.8E}"),
            ("[SENSe]:VOLTage[:DC]:ZERO:AUTO", False, s._set_autozero),
            ("TRIGger[:SEQuence]:SOURce", False, s._set_trig_source),
            ("TRIGger[:SEQuence]:SOURce", True, lambda a: s.state.trig_source),
            ("TRIGger[:SEQuence]:COUNt", False, s._set_trig_count),
            ("TRIGger[:SEQuence]:COUNt", True, lambda a: _nr3(s.state.trig_count)),
            ("TRIGger[:SEQuence]:DELay", False, s._set_trig_delay),
            ("SAMPle:SOURce", False, s._set_samp_source),
            ("SAMPle:SOURce", True, lambda a: s.state.samp_source),
            ("SAMPle:TIMer", False, s._set_samp_timer),
            ("SAMPle:TIMer", True, s._get_samp_timer),
            ("SAMPle:COUNt", False, s._set_samp_count),
            ("SAMPle:COUNt", True, lambda a: f"{s.state.samp_count:+d}"),
            ("INITiate[:IMMediate]", False, s._init),
            ("ABORt", False, s._abort),
            ("DATA:POINts", True, lambda a: f"{len(s._memory):+d}"),
            ("DATA:REMove", True, s._remove),
            ("STATus:QUEStionable[:EVENt]", True, s._ques_event),
            ("STATus:QUEStionable:CONDition", True, lambda a: f"{s.ques_cond:+d}"),
        ]

    # -- handlers -----------------------------------------------------------
    def _rst(self, arg: str) -> None:
        self.state = _State()
        self._run = None
        self._memory = np.empty(0)
        self.ques_cond = 0

    def _cls(self, arg: str) -> None:
        self.errors.clear()
        self.ques_event = 0

    def _next_error(self, arg: str) -> str:
        code = self.errors.pop(0) if self.errors else 0
        return f'{code:+d},"{ERRORS.get(code, "No error")}"'

    def _configure(self, arg: str) -> None:
        first = arg.split(",")[0].strip().upper()
        if first in ("", "AUTO", "DEF"):
            autorange, rng = True, 10.0
        else:
            value = _number(first, {"MIN": RANGES_V[0], "MAX": RANGES_V[-1]})
            rng = next((r for r in RANGES_V if abs(value) <= r * 1.2), None)
            if rng is None:
                raise ScpiError(-222)
            autorange = False
        self._abort("")
        self.state = _State(range_v=rng, autorange=autorange, samp_timer=self.state.samp_timer)

    def _set_nplc(self, arg: str) -> None:
        value = _number(arg, {"MIN": NPLC_VALUES[0], "MAX": NPLC_VALUES[-1], "DEF": 10.0})
        if not NPLC_VALUES[0] <= value <= NPLC_VALUES[-1]:
            raise ScpiError(-222)
        self.state.nplc = next(n for n in NPLC_VALUES if value <= n * (1 + 1e-9))

    def _set_range(self, arg: str) -> None:
        if arg.upper() == "AUTO":
            self.state.autorange = True
            return
        value = _number(arg, {"MIN": RANGES_V[0], "MAX": RANGES_V[-1], "DEF": 10.0})
        rng = next((r for r in RANGES_V if abs(value) <= r * 1.2), None)
        if rng is None:
            raise ScpiError(-222)
        self.state.range_v, self.state.autorange = rng, False

    def _set_autozero(self, arg: str) -> None:
        value = _choice(arg, ("ON", "OFF", "ONCE", "1", "0"))
        self.state.autozero = {"1": "ON", "0": "OFF"}.get(value, value)

    def _set_trig_source(self, arg: str) -> None:
        value = _choice(arg, ("IMM", "IMMEDIATE", "BUS", "EXT", "EXTERNAL", "INT", "INTERNAL"))
        self.state.trig_source = value[:3]

    def _set_trig_count(self, arg: str) -> None:
        value = _number(arg, {"MIN": 1, "MAX": MAX_COUNT, "DEF": 1, "INF": math.inf})
        if value != math.inf and not (1 <= value <= MAX_COUNT and value == int(value)):
            raise ScpiError(-222)
        self.state.trig_count = value

    def _set_trig_delay(self, arg: str) -> None:
        value = _number(arg, {"MIN": 0.0, "MAX": 3600.0, "DEF": 0.0})
        if not 0 <= value <= 3600:
            raise ScpiError(-222)
        self.state.trig_delay = value

    def _set_samp_source(self, arg: str) -> None:
        value = _choice(arg, ("IMM", "IMMEDIATE", "TIM", "TIMER"))
        self.state.samp_source = value[:3]

    def _set_samp_timer(self, arg: str) -> None:
        value = _number(
            arg, {"MIN": SAMPLE_TIMER_MIN_S, "MAX": SAMPLE_TIMER_MAX_S, "DEF": 1.0}
        )
        if not SAMPLE_TIMER_MIN_S <= value <= SAMPLE_TIMER_MAX_S:
            raise ScpiError(-222)
        self.state.samp_timer = value

    def _get_samp_timer(self, arg: str) -> str:
        bounds = {"MIN": SAMPLE_TIMER_MIN_S, "MAX": SAMPLE_TIMER_MAX_S}
        return f"{bounds.get(arg.upper(), self.state.samp_timer):+.8E}"

    def _set_samp_count(self, arg: str) -> None:
        value = _number(arg, {"MIN": 1, "MAX": MAX_COUNT, "DEF": 1})
        if not (1 <= value <= MAX_COUNT and value == int(value)):
            raise ScpiError(-222)
        self.state.samp_count = int(value)

    def _init(self, arg: str) -> None:
        # With SAMP:SOUR IMM readings follow each other as fast as the integration allows.
        st = self.state
        if st.samp_source != "TIM":
            st.samp_timer = max(st.nplc / 50.0, SAMPLE_TIMER_MIN_S)
        self._memory = np.empty(0)
        self.ques_cond &= ~QUES_MEM_OVERFLOW
        self.t_init = self.clock.now()
        self.init_times.append(self.t_init)
        self._run = _Run(t_init=self.t_init, total=st.samp_count * st.trig_count)

    def _abort(self, arg: str) -> None:
        self._advance()
        self._run = None

    def _remove(self, arg: str) -> str:
        parts = [p.strip().upper() for p in arg.split(",")] if arg else []
        if not parts or not parts[0]:
            raise ScpiError(-109)
        n = _number(parts[0], {"MIN": 1, "MAX": 2_000_000})
        if not (1 <= n <= 2_000_000 and n == int(n)) or (len(parts) > 1 and parts[1] != "WAIT"):
            raise ScpiError(-222)
        n = int(n)
        if n > len(self._memory):
            raise ScpiError(-222)
        out, self._memory = self._memory[:n], self._memory[n:]
        return ",".join(f"{v:+.9E}" for v in out.tolist())

    def _ques_event(self, arg: str) -> str:
        value, self.ques_event = self.ques_event, 0
        return f"{value:+d}"


def _nr3(value: float) -> str:
    return "+9.90000000E+37" if value == math.inf else f"{value:+.8E}"


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


_ALIASES = {"MINIMUM": "MIN", "MAXIMUM": "MAX", "DEFAULT": "DEF", "INFINITY": "INF"}


def _number(text: str, keywords: dict[str, float]) -> float:
    text = text.strip().upper()
    if not text:
        raise ScpiError(-109)
    key = _ALIASES.get(text, text)
    if key in keywords:
        return keywords[key]
    if not _NUMBER.fullmatch(text):
        raise ScpiError(-104)
    return float(text)


def _choice(text: str, allowed: tuple[str, ...]) -> str:
    value = text.strip().upper()
    if not value:
        raise ScpiError(-109)
    if value not in allowed:
        raise ScpiError(-104)
    return value


class SimulatedDMM34465A:
    """The simulated 34465A served on ``127.0.0.1`` (one client at a time; reconnects welcome)."""

    def __init__(
        self, clock: Clock, source: SignalSource | None = None, port: int = 0
    ) -> None:
        self.clock = clock
        self.device = DMM34465ADevice(clock, source)
        self.received: list[str] = []
        self.faults = Faults()
        self._port = port
        self._server: socket.socket | None = None
        self._client: socket.socket | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.connections = 0

    # -- life cycle -------------------------------------------------------------
    def start(self) -> SimulatedDMM34465A:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self._port))
        srv.listen(2)
        srv.settimeout(0.2)
        self._server = srv
        self._port = srv.getsockname()[1]
        thread = threading.Thread(target=self._accept_loop, name="sim-dmm34465a", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def close(self) -> None:
        self._stop.set()
        self.drop_connection()
        for thread in self._threads:
            thread.join(timeout=2)
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self._port

    @property
    def resource(self) -> str:
        return f"TCPIP::127.0.0.1::{self._port}::SOCKET"

    def rig_settings(self) -> dict:
        """A rig-file ``[detector]`` table pointing at this simulator."""
        return {
            "driver": "dmm34465a",
            "resource": self.resource,
            "timeout_s": 2.0,
            "interval_s": 0.1,
            "scale_nA_per_V": 1.0,
            "range_V": 1.0,
            "nplc": 1.0,
        }

    # -- faults ---------------------------------------------------------------
    def drop_connection(self) -> None:
        """Close the client's connection now (the driver sees EOF)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            client.close()

    def drop_on_next_command(self) -> None:
        """Close the connection when the next command arrives, without executing it."""
        self.faults.drop_next = True

    def garbage_replies(self, *replies: bytes, to: str = "") -> None:
        """Replace the next replies (to commands starting with ``to``) by these bytes + "\\n"."""
        self.faults.garbage.extend((to.upper(), r) for r in replies)

    def lose_replies(self, n: int = 1) -> None:
        """Execute the next ``n`` queries but send no reply."""
        self.faults.lose += n

    def slow_replies(self, delay_s: float) -> None:
        """Delay every reply by ``delay_s`` real seconds (0 restores)."""
        self.faults.delay_s = float(delay_s)

    def force_overload(self, t_start: float, t_end: float) -> None:
        self.device.force_overload(t_start, t_end)

    # -- serving ---------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.drop_connection()
            with self._lock:
                self._client = conn
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                chunk = conn.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.rstrip(b"\r").decode("ascii", "replace")
                self.received.append(line)
                if self.faults.drop_next:
                    self.faults.drop_next = False
                    log.debug("dropping the connection on %r", line)
                    self.drop_connection()
                    return
                reply = self.device.handle(line)
                if reply is None:
                    continue
                if not self._send(conn, line, reply.encode("ascii")):
                    return
        with self._lock:
            if self._client is conn:
                self._client = None
        conn.close()

    def _send(self, conn: socket.socket, line: str, reply: bytes) -> bool:
        faults = self.faults
        if faults.lose > 0:
            faults.lose -= 1
            return True
        if faults.garbage and line.upper().startswith(faults.garbage[0][0]):
            reply = faults.garbage.pop(0)[1]
        if faults.delay_s > 0:
            time.sleep(faults.delay_s)
        try:
            conn.sendall(reply + b"\n")
        except OSError:
            return False
        return True
