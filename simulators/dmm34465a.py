"""Keysight 34465A DMM simulator: a stateful SCPI server on loopback TCP (raw socket, port 5025 style).

The driver opens it with pyvisa-py as ``TCPIP::127.0.0.1::<port>::SOCKET``
exactly as it opens the real instrument. Commands are "\\n"-terminated SCPI
with short/long forms, optional nodes and case-insensitivity; several
commands may share a line separated by ";".

Acquisition model (DC volts, ``TRIG:SOUR IMM``, ``SAMP:SOUR TIM``): ``INIT``
at clock time ``t`` triggers at once; the first sample starts one trigger
delay (``TRIG:DEL``) later, at ``t_init``, and sample ``k`` of the set at
``t_init + k * SAMP:TIM`` [D Truevolt guide, SAMPle:SOURce]. ``TRIG:COUN``
sets of ``SAMP:COUN`` readings are taken (``INF``: until ``ABOR``); a set ends
one integration time (``NPLC`` / line frequency, or the aperture) after its
last sample starts, the trigger system re-arms after ``set_latency_s`` [I]
and, the trigger being immediate, the next set's first sample starts one
trigger delay after that. ``TRIG:DEL`` = interval - integration time thus
continues the sample grid across sets (within ``set_latency_s``); with
``TRIG:DEL 0`` the next set starts early. The automatic trigger delay (µs) is
not modelled (0). ``timer_ppm`` makes the sample timer run fast (+) or slow
(-) against the clock, as a real DMM's timebase does against a host's.
Readings are computed lazily from the shared ``Clock`` whenever a command
arrives, so no sampling thread runs. ``TRIG:COUN?`` answers ``+9.90000000E+37``
for ``INF``; ``READ?`` with ``INF`` is ``-221`` (it could never return) [I];
``FETC?`` returns what memory holds.
Reading memory holds 50,000 readings; on overflow the oldest readings are
overwritten, no error is queued, and bit 14 ("Reading Mem Ovfl") of the
Questionable Data register is set, as the Truevolt manuals describe.
``INIT`` and ``*RST`` clear reading memory; ``DATA:REM? n`` pops the oldest
``n`` readings and asks for no more than are stored (else ``-222``, no reply).
A reading beyond 120 % of the range is the overload value ``±9.9E37``.

Link faults: :meth:`drop_connection`, :meth:`unplug`/:meth:`plug`,
:meth:`drop_on_next_command`, :meth:`garbage_replies`, :meth:`slow_replies`,
:meth:`lose_replies`; instrument faults: :meth:`force_overload`, :meth:`stall`
(reading loss) and :meth:`resume`. The most recent command lines received
(``RECEIVED_MAX / 2`` to ``RECEIVED_MAX`` of them: a run of days must not grow it
without bound) are kept in :attr:`received` so tests can pin the exact traffic.
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

log = logging.getLogger(__name__)

MEMORY_READINGS = 50_000
OVERLOAD = 9.9e37
QUES_MEM_OVERFLOW = 1 << 14
IDN = "Keysight Technologies,34465A,MY59001234,A.03.03-03.15-03.03-00.52-03-02"
RANGES_V = (0.1, 1.0, 10.0, 100.0, 1000.0)
NPLC_VALUES = (0.02, 0.06, 0.2, 1.0, 10.0, 100.0)  # 0.001-0.006 need the DIG option
SAMPLE_TIMER_MIN_S = 20e-6  # [I] datasheet figure without DIG; SAMP:TIM? MIN reports it
SAMPLE_TIMER_MAX_S = 3600.0
MAX_COUNT = 1_000_000
#: Clock time from the end of one set of readings to the trigger of the next [I].
SET_LATENCY_S = 200e-6
#: Command lines kept in ``SimulatedDMM34465A.received`` (beyond, the oldest half goes).
RECEIVED_MAX = 20_000

ERRORS = {
    -102: "Syntax error",
    -104: "Data type error",
    -109: "Missing parameter",
    -113: "Undefined header",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -350: "Error queue overflow",
}
#: Resolution factor (× range) per NPLC step, from the 34465A's published table (as QCoDeS
#: carries it): reported by ``VOLT:DC:RES?``.
RESOLUTION_FACTORS = dict(zip(NPLC_VALUES, (3e-6, 1.5e-6, 0.7e-6, 0.3e-6, 0.1e-6, 0.03e-6),
                              strict=True))
FUNCTIONS = ("VOLT", "VOLT:AC", "CURR", "CURR:AC", "RES", "FRES", "FREQ", "PER", "TEMP",
             "DIOD", "CONT", "CAP", "VOLT:RAT")
#: ``*ESR?`` bits set by errors of each class (IEEE 488.2).
ESR_BITS = {1: 32, 2: 16, 3: 8, 4: 4}  # command, execution, device-specific, query error
ESR_OPC = 1


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
    """Measurement configuration (``*RST`` values)."""

    function: str = "VOLT"
    range_v: float = 10.0
    autorange: bool = True
    nplc: float = 10.0
    autozero: str = "ON"
    aperture_enabled: bool = False
    aperture_s: float = 0.1
    trig_source: str = "IMM"
    trig_count: float = 1  # math.inf for INFinity
    trig_delay: float = 0.0
    trig_delay_auto: bool = True
    trig_slope: str = "NEG"
    trig_level: float = 0.0
    samp_source: str = "IMM"
    samp_timer: float = 1.0
    samp_count: int = 1
    pretrigger: int = 0


@dataclass
class _Run:
    """One ``INIT``: sample ``k`` at ``t_init + (k // n) * period + (k % n) * dt``."""

    t_init: float  # clock time of the first sample
    total: float  # readings this INIT will take (may be inf)
    dt: float  # time between readings of a set
    n: int = 1 << 62  # readings per set (SAMP:COUN)
    period: float = math.inf  # from a set's first sample to the next set's
    taken: int = 0

    def times(self, k: np.ndarray) -> np.ndarray:
        if not math.isfinite(self.period):  # one set
            return self.t_init + k * self.dt
        sets = k // self.n
        return self.t_init + sets * self.period + (k - sets * self.n) * self.dt

    def due(self, now: float) -> int:
        """Readings taken by clock time ``now``."""
        u = now - self.t_init
        if u < 0:
            return 0
        sets = math.floor(u / self.period) if math.isfinite(self.period) else 0
        if sets:
            u -= sets * self.period
        within = math.floor(u / self.dt + 1e-9) + 1
        return int(min(sets * self.n + min(within, self.n), self.total))


@dataclass
class Faults:
    """Pending link faults, consumed as replies/commands go by."""

    #: drop the connection at the next command starting with this (None: no drop pending)
    drop_next: str | None = None
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
        self.esr = 0  # standard event status register
        self.ese = 0
        self.sre = 0
        self.line_hz = 50.0
        self.display_on = True
        self.display_text = ""
        self.data_format = "ASC"
        self.sampling = True  # False after the "stall" fault: the ADC delivers nothing
        #: The sample timer's error against the clock, ppm (+: runs fast, more readings).
        self.timer_ppm = 0.0
        #: From the end of a set of readings to the next trigger, clock s [I].
        self.set_latency_s = SET_LATENCY_S
        self._memory = np.empty(0, dtype=np.float64)
        self._run: _Run | None = None
        #: clock time of the last INIT's first sample: sample k of its first set at t_init + k*dt
        self.t_init: float | None = None
        self.init_times: list[float] = []  # every INIT's first sample time, for tests
        self._overload_spans: list[tuple[float, float]] = []
        self.readings_taken = 0  # over the simulator's life, for tests and benchmarks
        self.readings_overwritten = 0
        self._table = [(_compile(p), q, h) for p, q, h in self._commands()]

    # -- faults -------------------------------------------------------------
    def force_overload(self, t_start: float, t_end: float) -> None:
        """Readings taken at clock times in [t_start, t_end) read +9.9E37."""
        with self._lock:
            self._overload_spans.append((float(t_start), float(t_end)))

    def stall(self) -> None:
        """Reading loss: the measurement stops delivering readings (the run stays armed)."""
        with self._lock:
            self._advance()
            self.sampling = False

    def resume(self) -> None:
        """The stalled measurement delivers readings again (from now on)."""
        with self._lock:
            if self._run is not None and not self.sampling:
                skipped = self._due(self._run) - self._run.taken
                self._run.taken += max(skipped, 0)
            self.sampling = True

    # -- acquisition ----------------------------------------------------------
    @property
    def running(self) -> bool:
        with self._lock:
            self._advance()
            return self._run is not None

    def _due(self, run: _Run) -> int:
        return run.due(self.clock.now())

    def _advance(self) -> None:
        run = self._run
        if run is None or not self.sampling:
            return
        due = self._due(run)
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
        t = run.times(np.arange(first, due, dtype=np.int64))
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
        self.esr |= ESR_BITS.get(abs(code) // 100, 0)
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
        """(header pattern, is query, handler): the SCPI the simulator answers.

        Besides what Raphe's driver sends, the IEEE 488.2 common commands and
        the SCPI a generic client (QCoDeS' ``Keysight34465A``, PyMeasure's
        ``Agilent34410A``) asks at connect and for a simple reading.
        """
        s = self
        st = lambda: s.state
        sense = "[SENSe][:VOLTage][:DC]"  # the function node may be left out (RANG?)
        return [
            ("*IDN", True, lambda a: IDN),
            ("*RST", False, s._rst),
            ("*CLS", False, s._cls),
            ("*OPC", True, lambda a: "1"),
            ("*OPC", False, s._opc),
            ("*WAI", False, lambda a: None),
            ("*TRG", False, lambda a: None),
            ("*OPT", True, lambda a: "0,0"),
            ("*STB", True, s._stb),
            ("*ESR", True, s._read_esr),
            ("*ESE", False, lambda a: setattr(s, "ese", int(_number(a, {})) & 0xFF)),
            ("*ESE", True, lambda a: f"+{s.ese}"),
            ("*SRE", False, lambda a: setattr(s, "sre", int(_number(a, {})) & 0xFF)),
            ("*SRE", True, lambda a: f"+{s.sre}"),
            ("SYSTem:ERRor[:NEXT]", True, s._next_error),
            ("SYSTem:LFRequency", True, lambda a: f"+{s.line_hz:.0f}"),
            ("SYSTem:VERSion", True, lambda a: "1999.0"),
            ("SYSTem:LICense:CATalog", True, lambda a: '""'),
            ("CONFigure[:VOLTage][:DC]", False, s._configure),
            ("CONFigure", True, lambda a: f'"VOLT {st().range_v:+.8E},{s._resolution():+.8E}"'),
            ("MEASure[:VOLTage][:DC]", True, s._measure),
            ("READ", True, s._read),
            ("FETCh", True, s._fetch),
            ("R", True, s._read_and_erase),
            ("[SENSe]:FUNCtion[:ON]", False, s._set_function),
            ("[SENSe]:FUNCtion[:ON]", True, lambda a: f'"{st().function}"'),
            (f"{sense}:NPLCycles", False, s._set_nplc),
            (f"{sense}:NPLCycles", True, lambda a: _nr3(st().nplc)),
            (f"{sense}:RANGe", False, s._set_range),
            (f"{sense}:RANGe", True, lambda a: _nr3(st().range_v)),
            (f"{sense}:RANGe:AUTO", False, s._set_autorange),
            (f"{sense}:RANGe:AUTO", True, lambda a: "1" if st().autorange else "0"),
            (f"{sense}:RESolution", False, s._set_resolution),
            (f"{sense}:RESolution", True, lambda a: _nr3(s._resolution())),
            (f"{sense}:ZERO:AUTO", False, s._set_autozero),
            (f"{sense}:ZERO:AUTO", True, lambda a: "0" if st().autozero == "OFF" else "1"),
            (f"{sense}:APERture:ENABled", False, s._set_aperture_enabled),
            (f"{sense}:APERture:ENABled", True, lambda a: "1" if st().aperture_enabled else "0"),
            (f"{sense}:APERture", False, s._set_aperture),
            (f"{sense}:APERture", True, lambda a: _nr3(st().aperture_s)),
            ("TRIGger[:SEQuence]:SOURce", False, s._set_trig_source),
            ("TRIGger[:SEQuence]:SOURce", True, lambda a: st().trig_source),
            ("TRIGger[:SEQuence]:COUNt", False, s._set_trig_count),
            ("TRIGger[:SEQuence]:COUNt", True, lambda a: _nr3(st().trig_count)),
            ("TRIGger[:SEQuence]:DELay", False, s._set_trig_delay),
            ("TRIGger[:SEQuence]:DELay", True, lambda a: _nr3(st().trig_delay)),
            ("TRIGger[:SEQuence]:DELay:AUTO", False, s._set_trig_delay_auto),
            ("TRIGger[:SEQuence]:DELay:AUTO", True, lambda a: "1" if st().trig_delay_auto else "0"),
            ("TRIGger[:SEQuence]:SLOPe", False, s._set_trig_slope),
            ("TRIGger[:SEQuence]:SLOPe", True, lambda a: st().trig_slope),
            ("TRIGger[:SEQuence]:LEVel", False, s._set_trig_level),
            ("TRIGger[:SEQuence]:LEVel", True, lambda a: _nr3(st().trig_level)),
            ("SAMPle:SOURce", False, s._set_samp_source),
            ("SAMPle:SOURce", True, lambda a: st().samp_source),
            ("SAMPle:TIMer", False, s._set_samp_timer),
            ("SAMPle:TIMer", True, s._get_samp_timer),
            ("SAMPle:COUNt", False, s._set_samp_count),
            ("SAMPle:COUNt", True, lambda a: f"{st().samp_count:+d}"),
            ("SAMPle:COUNt:PRETrigger", False, s._set_pretrigger),
            ("SAMPle:COUNt:PRETrigger", True, lambda a: f"{st().pretrigger:+d}"),
            ("INITiate[:IMMediate]", False, s._init),
            ("ABORt", False, s._abort),
            ("DATA:POINts", True, lambda a: f"{len(s._memory):+d}"),
            ("DATA:REMove", True, s._remove),
            ("DATA:LAST", True, s._last),
            ("STATus:QUEStionable[:EVENt]", True, s._ques_event),
            ("STATus:QUEStionable:CONDition", True, lambda a: f"{s.ques_cond:+d}"),
            ("DISPlay[:STATe]", False, s._set_display),
            ("DISPlay[:STATe]", True, lambda a: "1" if s.display_on else "0"),
            ("DISPlay[:WINDow]:TEXT[:DATA]", False, s._set_display_text),
            ("DISPlay[:WINDow]:TEXT[:DATA]", True, lambda a: f'"{s.display_text}"'),
            ("DISPlay[:WINDow]:TEXT:CLEar", False, lambda a: setattr(s, "display_text", "")),
            ("FORMat[:DATA]", False, s._set_format),
            ("FORMat[:DATA]", True, lambda a: f"{s.data_format},9"),
        ]

    # -- handlers -----------------------------------------------------------
    def _config_changed(self) -> None:
        """A measurement configuration change clears reading memory [I]."""
        self._memory = np.empty(0)

    def _rst(self, arg: str) -> None:
        self.state = _State()
        self._run = None
        self._memory = np.empty(0)
        self.ques_cond = 0
        self.display_on, self.display_text, self.data_format = True, "", "ASC"

    def _cls(self, arg: str) -> None:
        self.errors.clear()
        self.ques_event = 0
        self.esr = 0

    def _opc(self, arg: str) -> None:
        self._advance()
        self.esr |= ESR_OPC  # every operation is complete when the next command is parsed

    def _stb(self, arg: str) -> str:
        stb = (4 if self.errors else 0) | (32 if self.esr & self.ese else 0)
        return f"+{stb}"

    def _read_esr(self, arg: str) -> str:
        value, self.esr = self.esr, 0
        return f"+{value}"

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
        self._config_changed()

    def _measure(self, arg: str) -> str:
        """``MEAS:VOLT:DC? [range[,resolution]]``: configure, then ``READ?``."""
        self._configure(arg)
        return self._read("")

    def _read(self, arg: str) -> str:
        """``READ?``: ``INIT``, wait for the readings (on the clock), return them (``FETC?``)."""
        if self.state.trig_count == math.inf:
            raise ScpiError(-221)  # it would never return
        self._init("")
        return self._fetch("")

    def _fetch(self, arg: str) -> str:
        """All readings of the measurement, once it is complete; they stay in memory."""
        run = self._run
        if run is not None and math.isfinite(run.total) and self.sampling:
            self.clock.sleep_until(float(run.times(np.array([int(run.total) - 1]))[0]))
            self._advance()
        return ",".join(_reading(v) for v in self._memory.tolist())

    def _read_and_erase(self, arg: str) -> str:
        """``R? [n]``: up to ``n`` (default all) readings, removed, as a definite-length block."""
        n = len(self._memory)
        if arg:
            value = _number(arg, {"MIN": 1, "MAX": 2_000_000, "DEF": n})
            if not (1 <= value <= 2_000_000 and value == int(value)):
                raise ScpiError(-222)
            n = min(n, int(value))
        out, self._memory = self._memory[:n], self._memory[n:]
        body = ",".join(_reading(v) for v in out.tolist())
        return f"#{len(str(len(body)))}{len(body)}{body}"

    def _last(self, arg: str) -> str:
        if not len(self._memory):
            return "+9.91000000E+37"  # NaN in SCPI: no reading yet
        return f"{_reading(self._memory[-1])} VDC"

    def _set_function(self, arg: str) -> None:
        name = arg.strip().strip('"').strip("'").upper()
        aliases = {"VOLT:DC": "VOLT", "VOLTAGE": "VOLT", "VOLTAGE:DC": "VOLT",
                   "CURR:DC": "CURR", "CURRENT": "CURR", "CURRENT:DC": "CURR"}
        name = aliases.get(name, name)
        if name not in FUNCTIONS:
            raise ScpiError(-224)
        if name != self.state.function:
            self._abort("")
            self.state.function = name
            self._config_changed()

    def _set_nplc(self, arg: str) -> None:
        value = _number(arg, {"MIN": NPLC_VALUES[0], "MAX": NPLC_VALUES[-1], "DEF": 10.0})
        if not NPLC_VALUES[0] <= value <= NPLC_VALUES[-1]:
            raise ScpiError(-222)
        self.state.nplc = next(n for n in NPLC_VALUES if value <= n * (1 + 1e-9))
        self.state.aperture_enabled = False
        self._config_changed()

    def _resolution(self) -> float:
        return self.state.range_v * RESOLUTION_FACTORS[self.state.nplc]

    def _set_resolution(self, arg: str) -> None:
        finest = self.state.range_v * RESOLUTION_FACTORS[NPLC_VALUES[-1]]
        coarsest = self.state.range_v * RESOLUTION_FACTORS[NPLC_VALUES[0]]
        value = _number(arg, {"MIN": finest, "MAX": coarsest, "DEF": coarsest})
        if not value > 0:
            raise ScpiError(-222)
        # The shortest integration that resolves ``value``.
        fits = [n for n in NPLC_VALUES if self.state.range_v * RESOLUTION_FACTORS[n] <= value * 1.001]
        self.state.nplc = fits[0] if fits else NPLC_VALUES[-1]
        self._config_changed()

    def _set_range(self, arg: str) -> None:
        if arg.upper() == "AUTO":
            self.state.autorange = True
            self._config_changed()
            return
        value = _number(arg, {"MIN": RANGES_V[0], "MAX": RANGES_V[-1], "DEF": 10.0})
        rng = next((r for r in RANGES_V if abs(value) <= r * 1.2), None)
        if rng is None:
            raise ScpiError(-222)
        self.state.range_v, self.state.autorange = rng, False
        self._config_changed()

    def _set_autorange(self, arg: str) -> None:
        value = _choice(arg, ("ON", "OFF", "ONCE", "1", "0"))
        self.state.autorange = value in ("ON", "1")
        self._config_changed()

    def _set_autozero(self, arg: str) -> None:
        value = _choice(arg, ("ON", "OFF", "ONCE", "1", "0"))
        self.state.autozero = {"1": "ON", "0": "OFF", "ONCE": "OFF"}.get(value, value)
        self._config_changed()

    def _set_aperture_enabled(self, arg: str) -> None:
        self.state.aperture_enabled = _choice(arg, ("ON", "OFF", "1", "0")) in ("ON", "1")
        self._config_changed()

    def _set_aperture(self, arg: str) -> None:
        value = _number(arg, {"MIN": 2e-5, "MAX": 1.0, "DEF": 0.1})
        if not 2e-5 <= value <= 1.0:
            raise ScpiError(-222)
        self.state.aperture_s, self.state.aperture_enabled = value, True
        self._config_changed()

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
        self.state.trig_delay, self.state.trig_delay_auto = value, False

    def _set_trig_delay_auto(self, arg: str) -> None:
        self.state.trig_delay_auto = _choice(arg, ("ON", "OFF", "1", "0")) in ("ON", "1")

    def _set_trig_slope(self, arg: str) -> None:
        self.state.trig_slope = _choice(arg, ("POS", "POSITIVE", "NEG", "NEGATIVE"))[:3]

    def _set_trig_level(self, arg: str) -> None:
        self.state.trig_level = _number(arg, {"MIN": -1000.0, "MAX": 1000.0, "DEF": 0.0})

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

    def _set_pretrigger(self, arg: str) -> None:
        value = _number(arg, {"MIN": 0, "MAX": MAX_COUNT - 1, "DEF": 0})
        if not (0 <= value < MAX_COUNT and value == int(value)):
            raise ScpiError(-222)
        self.state.pretrigger = int(value)

    def _set_display(self, arg: str) -> None:
        self.display_on = _choice(arg, ("ON", "OFF", "1", "0")) in ("ON", "1")

    def _set_display_text(self, arg: str) -> None:
        text = arg.strip()
        if len(text) < 2 or text[0] not in "\"'" or text[-1] != text[0]:
            raise ScpiError(-104)
        self.display_text = text[1:-1][:40]

    def _set_format(self, arg: str) -> None:
        kind = _choice(arg.split(",")[0], ("ASC", "ASCII", "REAL"))
        if kind == "REAL":
            raise ScpiError(-224)  # binary transfer is not simulated
        self.data_format = "ASC"

    def _integration_s(self) -> float:
        st = self.state
        return st.aperture_s if st.aperture_enabled else st.nplc / self.line_hz

    def _init(self, arg: str) -> None:
        # With SAMP:SOUR IMM readings follow each other as fast as the integration allows,
        # the trigger delay between them; with TIM the timer paces them.
        st = self.state
        delay = 0.0 if st.trig_delay_auto else st.trig_delay
        integration = self._integration_s()
        dt = st.samp_timer if st.samp_source == "TIM" else integration + delay
        scale = 1.0 / (1.0 + self.timer_ppm * 1e-6)  # a fast timer: shorter intervals
        dt = max(dt, SAMPLE_TIMER_MIN_S) * scale
        n = st.samp_count
        period = ((n - 1) * dt + (integration + self.set_latency_s + delay) * scale
                  if st.trig_count > 1 else math.inf)
        self._memory = np.empty(0)
        self.ques_cond &= ~QUES_MEM_OVERFLOW
        self.t_init = self.clock.now() + delay * scale
        self.init_times.append(self.t_init)
        self._run = _Run(t_init=self.t_init, total=n * st.trig_count, dt=dt, n=n,
                         period=period)

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
        return ",".join(_reading(v) for v in out.tolist())

    def _ques_event(self, arg: str) -> str:
        value, self.ques_event = self.ques_event, 0
        return f"{value:+d}"


def _reading(value: float) -> str:
    """A reading as the instrument writes it: 9 significant digits, ``+1.23456789E-01``."""
    return f"{value:+.8E}"


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
        self.plugged = True

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

    def unplug(self) -> None:
        """The LAN cable is pulled: the connection drops and new ones are closed at once."""
        self.plugged = False
        self.drop_connection()

    def plug(self) -> None:
        """The cable is back: connections are served again (the instrument kept its state)."""
        self.plugged = True

    def stall(self) -> None:
        """Reading loss: the instrument stops delivering readings (see ``resume``)."""
        self.device.stall()

    def resume(self) -> None:
        self.device.resume()

    def drop_on_next_command(self, to: str = "") -> None:
        """Close the connection when the next command (starting with ``to``) arrives,
        without executing it."""
        self.faults.drop_next = to.upper()

    def garbage_replies(self, *replies: bytes, to: str = "") -> None:
        """Replace the next replies (to commands starting with ``to``) by these bytes + "\\n"."""
        self.faults.garbage.extend((to.upper(), r) for r in replies)

    def inject_garbage(self, data: bytes = b"\x00\xff#garbage", count: int = 1) -> None:
        """Send ``data`` instead of each of the next ``count`` replies (the link faults have
        the names and arguments of the serial simulators' port: ``pty_port.PtyPort``)."""
        self.garbage_replies(*[data] * count)

    def lose_replies(self, count: int = 1) -> None:
        """Execute the next ``count`` queries but send no reply."""
        self.faults.lose += count

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
            if not self.plugged:
                conn.close()
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.drop_connection()
            with self._lock:
                self._client = conn
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

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
                if len(self.received) > RECEIVED_MAX:
                    del self.received[: RECEIVED_MAX // 2]
                drop = self.faults.drop_next
                if drop is not None and line.upper().startswith(drop):
                    self.faults.drop_next = None
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
