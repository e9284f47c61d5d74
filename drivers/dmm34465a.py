"""Keysight 34465A DMM digitising the ECD's analog output, over VISA (pyvisa + pyvisa-py).

The DMM measures DC volts paced by its own sample timer (``SAMP:SOUR TIM``)
and stores readings in its 50,000-reading memory; :meth:`DMM34465A.read_block`
drains that memory with ``DATA:POIN?`` then ``DATA:REM? n`` and converts
volts to nA with the detector's scale.

Acquisition is continuous: ``TRIG:COUN INF`` makes the trigger system re-arm
itself after every ``SAMP:COUN`` set of readings, and ``TRIG:DEL`` (the
interval minus the integration time) puts the first sample of the next set one
interval after the last sample of the previous one, so readings never stop and
the host never re-arms (one ``INIT`` per :meth:`start`).

Time base (:class:`TimeBase`): reading ``i`` of a segment (one ``INIT``) is at
``base + (i - index0) * dt``. At every ``read_block`` the instrument's count
(readings drained + readings in memory) is reconciled with the session clock,
bracketed by the session time before and after ``DATA:POIN?``: readings the
clock says must exist and the count lacks were lost (a stalled ADC). Once such a
shortfall is certain, that many indices are skipped, so the readings drained
next are timed after the hole (the recorder records a ``gap`` of its span) and
nothing after it is shifted. A slow disagreement of the DMM's timer with the
host clock (ppm drift) and the small irregularity where one set of readings
follows another are absorbed by moving ``base`` by less than half an interval
at a time, never as a gap. A DMM that delivers nothing for ``STALL_FAULT_REAL_S``
(and ``STALL_FAULT_INTERVALS``) raises ``InstrumentError`` (the recorder
reconnects; the driver re-arms); readings arriving far faster or slower than
the session clock allows (a simulated rig whose ``[rig] speed`` differs from
the simulator's) raise ``InstrumentError`` before any wrong time is stored. A
reply lost in the middle of a ``DATA:REM?`` transfer skips the readings it
removed (those readings are gone; the time axis stays true). Reading memory
overflow (readings not drained for 50,000 intervals) raises ``InstrumentError``.

Link errors: a VISA timeout → ``InstrumentTimeout``; the socket closed or
reset, or any other VISA or socket failure → ``Disconnected`` (a closed socket
is detected at once, not after the timeout, by peeking the pyvisa-py socket);
an unparsable reply → ``ProtocolError``. The resource is held exclusively
through a lock file (``raphe.drivers.locks``), and one query (command and
reply) at a time. All traffic is logged at DEBUG under
``raphe.instrument.<name>`` (the rig-file table: ``detector``).
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from raphe.drivers.base import Detector
from raphe.drivers.settings import REQUIRED, Setting
from raphe.drivers.transport import VisaTransport
from raphe.errors import (
    Disconnected,
    InputError,
    InstrumentError,
    ProtocolError,
)
from raphe.records import DetectorBlock

MEMORY_READINGS = 50_000
MAX_SAMPLE_COUNT = 1_000_000
OVERLOAD_THRESHOLD = 9.0e37  # the instrument reports overload as ±9.9E37
QUES_MEM_OVERFLOW = 1 << 14
RANGES_V = (0.1, 1.0, 10.0, 100.0, 1000.0)

TRIGGER_DELAY_MAX_S = 3600.0

#: Readings arriving this much faster than the session clock allows: the clocks disagree.
RATE_TOLERANCE = 0.2
#: ... or at less than this fraction of the rate, over a window of at least this much real
#: time and this many intervals (long enough that a brief stall is a gap, not a fault).
SLOW_RATE_FRACTION = 0.5
SLOW_WINDOW_REAL_S = 30.0
SLOW_WINDOW_INTERVALS = 300
#: No new reading for this much real time and this many intervals: the DMM stopped sampling.
STALL_FAULT_REAL_S = 10.0
STALL_FAULT_INTERVALS = 100
#: The DMM's timer may run this much faster or slower than the session clock (1000 ppm;
#: a 34465A and a free-running host clock are within tens of ppm). Once the segment has run
#: for DRIFT_LEARN_S the drift seen so far, plus DRIFT_MARGIN, bounds it instead.
DRIFT_BOUND = 1e-3
DRIFT_LEARN_S = 30.0
DRIFT_MARGIN = 20e-6
DRIFT_REFRESH_S = 3 * 3600.0
#: A change of the count's offset smaller than this many intervals is timing irregularity,
#: never a lost reading; where one set of readings follows another, half an interval.
IRREGULARITY_TOL = 0.1
SET_BOUNDARY_TOL = 0.5
#: A loss is judged against the enclosure as it was this many polls earlier (one of the
#: observations since may have narrowed it assuming nothing was lost when something was).
REVERT_POLLS = 6
#: ``base`` follows the reconciled offset when it is more than REBASE_MIN intervals away, by
#: at most REBASE_STEP intervals per block (less than half: never seen as a gap).
REBASE_MIN = 0.2
REBASE_STEP = 0.45
#: A shortfall is settled when its size is known exactly, or after this many polls, this
#: much real time, or this many readings held in memory meanwhile (then its certain minimum).
HOLD_POLLS = 5
HOLD_REAL_S = 2.0
HOLD_READINGS = MEMORY_READINGS // 4

SETTINGS: dict[str, Setting] = {
    "resource": Setting(
        str, REQUIRED, "VISA resource, e.g. TCPIP::192.168.1.50::5025::SOCKET"
    ),
    "timeout_s": Setting(float, 2.0, "reply timeout, s", above=0),
    "interval_s": Setting(float, 0.1, "sample interval, s (0.1 s = 10 Hz)", above=0),
    "scale_nA_per_V": Setting(
        float, REQUIRED, "ECD analog output scale at its range setting, nA per V", above=0
    ),
    "range_V": Setting(float, 1.0, "DMM DC voltage range, V", choices=RANGES_V),
    "nplc": Setting(
        float, 1.0, "integration time, power-line cycles (the DMM checks the steps)", above=0
    ),
    "line_hz": Setting(
        float, 50.0, "mains frequency, Hz (integration time = nplc / line_hz)",
        choices=(50.0, 60.0),
    ),
    "samples_per_run": Setting(
        int, MAX_SAMPLE_COUNT,
        "readings per trigger (SAMP:COUN); the DMM re-arms itself after each (TRIG:COUN INF)",
        minimum=1, maximum=MAX_SAMPLE_COUNT,
    ),
}


# -- reply parsers: text in, value out, or ProtocolError ----------------------------------
_NR = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_READINGS = re.compile(rf"{_NR}(?:,{_NR})*")
_ERROR = re.compile(r'([+-]?\d{1,6}),"([^"]*)"')
_POINTS = re.compile(r"[+-]?\d{1,9}")
_BLOCK_HEADER = re.compile(r"#([1-9])")


def decode_reply(raw: bytes) -> str:
    """One reply line as text, without its terminator; non-ASCII bytes → ``ProtocolError``."""
    try:
        return bytes(raw).rstrip(b"\r\n").decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(f"non-ASCII reply {bytes(raw[:40])!r}") from None


def parse_idn(text: str) -> dict[str, str]:
    """``*IDN?`` → {"manufacturer", "model", "serial", "firmware"}."""
    fields = [f.strip() for f in text.strip().split(",")]
    if len(fields) != 4 or not all(fields[:2]) or not all(f.isprintable() for f in fields):
        raise ProtocolError(f"unexpected *IDN? reply {text[:80]!r}")
    return dict(zip(("manufacturer", "model", "serial", "firmware"), fields, strict=True))


def parse_error(text: str) -> tuple[int, str]:
    """``SYST:ERR?`` → (code, message); code 0 means no error."""
    match = _ERROR.fullmatch(text.strip())
    if match is None:
        raise ProtocolError(f"unexpected SYST:ERR? reply {text[:80]!r}")
    return int(match.group(1)), match.group(2)


def parse_points(text: str) -> int:
    """``DATA:POIN?`` → number of readings in memory."""
    text = text.strip()
    if not _POINTS.fullmatch(text) or not 0 <= int(text) <= 2_000_000:
        raise ProtocolError(f"unexpected DATA:POIN? reply {text[:80]!r}")
    return int(text)


def parse_readings(text: str) -> np.ndarray:
    """``DATA:REM?`` → readings (V), from comma-separated NR3 values.

    An IEEE 488.2 definite-length block header (``#<d><len>``) is accepted too.
    """
    text = text.strip()
    header = _BLOCK_HEADER.match(text)
    if header is not None:
        digits = int(header.group(1))
        size_text = text[2 : 2 + digits]
        if len(size_text) != digits or not size_text.isdigit():
            raise ProtocolError(f"bad block header in {text[:40]!r}")
        body = text[2 + digits :]
        if len(body) != int(size_text):
            raise ProtocolError(f"block announces {int(size_text)} bytes, got {len(body)}")
        text = body
    if not text:
        return np.empty(0, dtype=np.float64)
    if not _READINGS.fullmatch(text):
        raise ProtocolError(f"unparsable readings {text[:60]!r}")
    return np.array(text.split(","), dtype=np.float64)


def _fmt(value: float) -> str:
    """Number as sent on the wire: shortest exact form, e.g. 0.1, 1, 1e-05."""
    return f"{value:g}" if float(f"{value:g}") == value else repr(float(value))


class ScpiError(InstrumentError):
    """The instrument's error queue held errors; ``errors`` lists (code, message)."""

    def __init__(self, context: str, errors: list[tuple[int, str]], instrument: str = "") -> None:
        self.errors = errors
        text = "; ".join(f'{code:+d},"{message}"' for code, message in errors)
        super().__init__(f"{context}: instrument reported {text}", instrument)


@dataclass(frozen=True)
class Segment:
    """One ``INIT``: readings from ``index0`` on belong to it. ``t0`` is the session time read
    just before ``INIT`` was sent (no reading of the segment is earlier); ``host_monotonic``
    and ``wall_time`` are the host's clocks then. Each reading's time is decided by the
    segment's :class:`TimeBase` (:attr:`DMM34465A.time_base`)."""

    index0: int
    t0: float
    host_monotonic: float
    wall_time: float


@dataclass(frozen=True)
class Hole:
    """Readings ``index`` to ``index + n - 1`` were lost (skipped in the index); the readings
    after them are timed from ``t`` (session s) on. ``reason``: ``lost`` (the DMM never
    delivered them) or ``removed`` (a failed ``DATA:REM?`` took them)."""

    index: int
    n: int
    t: float
    reason: str


@dataclass(frozen=True)
class Verdict:
    """What :meth:`TimeBase.reconcile` decided for one poll: drain ``release`` readings as they
    are (before a hole), or skip ``skip`` indices and drain every reading (``drain``), or hold
    everything in memory for now (neither)."""

    drain: bool = False
    skip: int = 0
    release: int = 0
    surplus: int = 0  # readings the count is ahead by (the base was moved back)


HOLD = Verdict()


@dataclass
class _Pending:
    """A shortfall not settled yet: ``lo`` to ``hi`` readings lost at the last poll."""

    lo: float
    hi: float
    held: int  # readings in memory at the last poll (before the hole if the loss grows)
    count: int  # the DMM's own count then (readings it took)
    t: float  # session time after that poll's DATA:POIN?
    since: float  # host time the loss was last seen growing
    least: float = 0.0  # the certain minimum so far (losses only grow)
    polls: int = 0  # polls since the loss was last seen growing


def _floor(x: float) -> float:
    return float(math.floor(x)) if math.isfinite(x) else x


def _ceil(x: float) -> float:
    return float(math.ceil(x)) if math.isfinite(x) else x


class TimeBase:
    """When each reading of one segment was taken, from the DMM's count and the session clock.

    Positions count the segment's readings from 0, skipped (lost) ones included; reading
    at position ``p`` is timed ``base + p * dt``. The instrument's count ``c`` (positions
    drained + readings in memory) at a ``DATA:POIN?`` sent between session times ``tb`` and
    ``ta`` says where its first reading really was: ``s`` with ``c = floor((tq - s)/dt) + 1``
    for some ``tq`` in ``[tb, ta]``, i.e. ``x = (s - base)/dt`` lies in ``(a, b]`` with
    ``a = (tb - base)/dt - c`` and ``b = (ta - base)/dt - c + 1``. The offset ``x`` is
    ``m + x_c``: ``m`` whole readings lost and not yet skipped (a stalled ADC leaves the
    grid where it was) plus a continuous part ``x_c`` (the DMM's timer against the host's,
    set boundaries), known to lie in ``[lo, hi]``: the intersection of the observations,
    widened as time passes by how fast the DMM may drift (``drift_bound``).

    Each poll, the whole numbers ``m`` the observation allows (``candidates``): when 0 is
    one, nothing was lost and the enclosure narrows; ``base`` follows it before a block is
    timed (``rebase``: less than half an interval per block, never a gap). When only
    ``m >= 1`` fits, readings were lost: the enclosure goes back a few polls (one of them
    may have narrowed it assuming nothing was lost when one reading was), everything stays
    in memory until the loss is sized — two polls in a row allowing exactly the same ``m``,
    or its certain minimum after ``HOLD_POLLS``/``HOLD_REAL_S`` — then ``m`` indices are
    skipped and every reading in memory is timed after the hole. Readings in memory at a
    poll after which the loss still grew were taken before it: they are released first,
    timed as they are.
    """

    def __init__(self, t0: float, dt: float, set_size: int) -> None:
        self.t0 = float(t0)
        self.dt = float(dt)
        self.set_size = max(int(set_size), 1)
        self.base = float(t0)
        self.lo, self.hi = 0.0, math.inf  # no reading precedes t0
        self.t_seen = float(t0)
        self.c_seen = 0
        self.lost = 0  # positions skipped because the DMM never delivered them
        self.started = False  # a block of this segment was handed out
        self.pending: _Pending | None = None
        self.rebases = 0
        #: (session time, earliest, latest) of the continuous start: two snapshots, to learn
        #: the drift rate from
        self._refs: list[tuple[float, float, float]] = []
        self._last: tuple[int, float, int] | None = None  # (DMM count, time, c) at last poll
        #: the enclosure before each of the last updates (absolute), to go back to
        self._history: deque[tuple[float, float, float, int]] = deque(maxlen=REVERT_POLLS)

    # -- the arithmetic ----------------------------------------------------------------------
    def observe(self, c: int, tb: float, ta: float) -> tuple[float, float]:
        """``(a, b]``: where ``x`` lies, from a count ``c`` seen between ``tb`` and ``ta``."""
        if c <= 0:  # nothing yet: the first reading is after tb
            return (tb - self.base) / self.dt, math.inf
        return (tb - self.base) / self.dt - c, (ta - self.base) / self.dt - c + 1

    def drift_bound(self) -> float:
        """How fast (s/s) the DMM's timer may be drifting against the session clock now: the
        rate seen since the oldest snapshot, plus a margin; ``DRIFT_BOUND`` until known."""
        if not self._refs or self.t_seen - self._refs[0][0] < DRIFT_LEARN_S:
            return DRIFT_BOUND
        t_ref, s_lo, s_hi = self._refs[0]
        age = self.t_seen - t_ref
        now_lo = self.base + self.lo * self.dt
        now_hi = self.base + self.hi * self.dt
        rate = max(abs(now_lo - s_hi), abs(now_hi - s_lo)) / age
        return min(DRIFT_BOUND, rate + DRIFT_MARGIN)

    def _snapshot(self) -> None:
        width = self.hi - self.lo
        if width > 0.5:
            return
        snap = (self.t_seen, self.base + self.lo * self.dt, self.base + self.hi * self.dt)
        refs = self._refs
        if refs and self.t_seen - refs[-1][0] < DRIFT_LEARN_S:
            if width * self.dt < refs[-1][2] - refs[-1][1]:
                refs[-1] = snap  # a young snapshot: keep the narrowest
        elif not refs or self.t_seen - refs[-1][0] >= DRIFT_REFRESH_S / 2:
            refs.append(snap)
            del refs[:-2]  # learn from the last few hours

    def widened(self, t: float, c: int) -> tuple[float, float]:
        grow = self.drift_bound() * max(t - self.t_seen, 0.0) / self.dt
        if self.c_seen and (self.c_seen - 1) // self.set_size != (c - 1) // self.set_size:
            grow += SET_BOUNDARY_TOL  # a set boundary since: its irregularity is no loss
        return self.lo - grow, self.hi + grow

    @staticmethod
    def candidates(a: float, b: float, lo: float, hi: float) -> tuple[float, float]:
        """The whole numbers of readings lost that fit ``x`` in ``(a, b]`` with ``x_c`` in
        ``[lo, hi]``; only when none fits exactly, those that fit within
        ``IRREGULARITY_TOL`` (a small irregularity, never preferred to a lost reading)."""
        m_lo, m_hi = _floor(a - hi) + 1, _ceil(b - lo) - 1
        if m_lo <= m_hi:
            return m_lo, m_hi
        return (_floor(a - hi - IRREGULARITY_TOL) + 1,
                _ceil(b - lo + IRREGULARITY_TOL) - 1)

    def _update(self, a: float, b: float, lo: float, hi: float, t: float, c: int) -> None:
        if math.isfinite(self.hi):
            self._history.append((self.base + self.lo * self.dt, self.base + self.hi * self.dt,
                                  self.t_seen, self.c_seen))
        new_lo, new_hi = max(lo, a), min(hi, b)
        if new_lo > new_hi:  # just beyond the enclosure: it moved by less than the tolerance
            if a >= hi:
                new_lo, new_hi = a, min(b, a + IRREGULARITY_TOL)
            else:
                new_lo, new_hi = max(a, b - IRREGULARITY_TOL), b
        self.lo, self.hi = new_lo, new_hi
        self.t_seen, self.c_seen = t, c
        self._snapshot()

    # -- one poll ----------------------------------------------------------------------------
    def reconcile(self, c: int, points: int, tb: float, ta: float,
                  now_host: float | None = None) -> Verdict:
        """Decide what to do with the ``points`` readings in memory; ``c`` counts positions
        up to the last of them."""
        verdict = self._reconcile(c, points, tb, ta,
                                  time.monotonic() if now_host is None else now_host)
        self._last = (c - self.lost, ta, c + verdict.skip)
        return verdict

    def _reconcile(self, c: int, points: int, tb: float, ta: float,
                   now_host: float) -> Verdict:
        a, b = self.observe(c, tb, ta)
        lo, hi = self.widened(ta, c)
        m_lo, m_hi = self.candidates(a, b, lo, hi)
        count = c - self.lost  # readings the DMM took
        if not math.isfinite(hi):  # the first readings: they say where the grid is
            self._update(a, b, lo, hi, ta, c)
            return Verdict(drain=True)
        p = self.pending
        if p is not None:
            if tb - p.t < self.dt:  # too soon after the last poll to tell anything new
                return HOLD
            # A DMM sampling all along took at least this many readings between the polls.
            flowing = count - p.count >= math.floor((tb - p.t) / self.dt - IRREGULARITY_TOL)
            if not flowing or m_lo > p.hi:  # still losing readings: what was held came first
                release = min(p.held, points)
                self.pending = _Pending(m_lo, m_hi, points - release, count, ta, now_host,
                                        max(p.least, m_lo))
                return Verdict(release=release) if release else HOLD
            if m_hi >= p.least:
                # Settled when two polls in a row say the same number and nothing else (a
                # loss still growing would have moved it), else at its certain minimum.
                same = m_lo == m_hi == p.lo == p.hi
                p.least = max(p.least, m_lo)
                p.lo, p.hi = m_lo, m_hi
                p.held, p.count, p.t = points, count, ta
                p.polls += 1
                if (same or p.polls >= HOLD_POLLS or now_host - p.since >= HOLD_REAL_S
                        or points >= HOLD_READINGS):
                    return self._settle(p.least, max(p.least, m_hi), a, b, lo, hi, ta, c)
                return HOLD
            self.pending = None  # fewer than it seemed: judge this poll afresh
        behind = self._fell_behind(count, tb, c)
        if m_lo <= 0 <= m_hi and not (m_hi >= 1 and behind):
            self._update(a, b, lo, hi, ta, c)  # none lost: the likeliest
            return Verdict(drain=True)
        # A change: an observation that narrowed the enclosure on the way may have done so
        # assuming nothing was lost when something was (the bracket could not tell): judge
        # against the enclosure as it was a few polls ago.
        self._revert()
        lo, hi = self.widened(ta, c)
        m_lo, m_hi = self.candidates(a, b, lo, hi)
        if m_lo >= 1 or (m_hi >= 1 and behind):
            # Lost for certain (or, the count having fallen behind, likely: then sized only
            # if the next polls agree).
            self.pending = _Pending(m_lo, m_hi, points, count, ta, now_host, max(m_lo, 0.0))
            return HOLD
        if m_lo <= 0 <= m_hi:
            self._update(a, b, lo, hi, ta, c)
            return Verdict(drain=True)
        # The count is ahead by whole readings (a transfer judged removed was not, or a
        # timer far faster than the host's): the continuous part moves back; base follows.
        self._update(a, b, lo + m_hi, hi + m_hi, ta, c)
        return Verdict(drain=True, surplus=int(-m_hi))

    def _fell_behind(self, count: int, tb: float, c: int) -> bool:
        """Since the last poll the DMM took fewer readings than one sampling all along must
        have (a reading was certainly lost, unless a set boundary came between)."""
        last = self._last
        if last is None or tb - last[1] < self.dt:
            return False
        if (last[2] - 1) // self.set_size != (c - 1) // self.set_size:
            return False
        return count - last[0] < math.floor((tb - last[1]) / self.dt - IRREGULARITY_TOL)

    def _revert(self) -> None:
        """Back to the oldest enclosure kept (``REVERT_POLLS`` updates ago)."""
        if not self._history:
            return
        s_lo, s_hi, t, c = self._history[0]
        self._history.clear()
        self.lo = min(self.lo, (s_lo - self.base) / self.dt)
        self.hi = max(self.hi, (s_hi - self.base) / self.dt)
        self.t_seen, self.c_seen = min(self.t_seen, t), c

    def _settle(self, m_lo: float, m_hi: float, a: float, b: float, lo: float, hi: float,
                t: float, c: int) -> Verdict:
        """Skip the certain minimum ``m_lo``; if more were lost they show at a later poll (the
        enclosure keeps every candidate's continuous part)."""
        m = int(m_lo)
        self.pending = None
        self.lost += m
        self._update(a - m_hi, b - m_lo, lo, hi, t, c + m)
        return Verdict(drain=True, skip=m)

    def settle_now(self) -> int:
        """A pending loss at its certain minimum (the link is about to be given up)."""
        p, self.pending = self.pending, None
        if p is None or not math.isfinite(p.least) or p.least < 1:
            return 0
        self.lost += int(p.least)
        self.c_seen += int(p.least)
        return int(p.least)

    def removed(self, c: int, n: int, tb: float, ta: float) -> bool:
        """A ``DATA:REM? n`` whose reply never came: did it remove its ``n`` readings? ``c``
        counts positions drained + readings in memory now. The hypothesis whose observation
        lies nearer the enclosure wins (a tie: the one nearer its middle)."""
        self.pending = None
        lo, hi = self.widened(ta, c)
        if not math.isfinite(hi):  # nothing reconciled yet: the clock since t0 decides
            taken = ((tb + ta) / 2 - self.t0) / self.dt
            return taken - c >= n / 2
        dist = []
        for cc in (c, c + n):
            a, b = self.observe(cc, tb, ta)
            gap = max(0.0, a - hi, lo - b)
            mid = abs((a + min(b, a + 1)) / 2 - (lo + hi) / 2)
            dist.append((gap, mid))
        return dist[1] < dist[0]

    def rebase(self) -> float:
        """Move ``base`` toward the reconciled offset before a block is timed; the shift
        (intervals). The segment's first block is placed freely; later ones by less than half
        an interval, so a re-base never looks like lost readings."""
        if not math.isfinite(self.hi) or not math.isfinite(self.lo):
            return 0.0
        width = self.hi - self.lo
        mid = (self.lo + self.hi) / 2
        if not self.started:
            shift = mid
            self.started = True
        else:
            target = mid if width <= 1.0 else min(max(0.0, self.lo + 0.25), self.hi - 0.25)
            if abs(target) <= REBASE_MIN:
                return 0.0
            shift = max(-REBASE_STEP, min(REBASE_STEP, target))
            self.rebases += 1
        self.base += shift * self.dt
        self.lo -= shift
        self.hi -= shift
        return shift

    def time_of(self, position: int) -> float:
        return self.base + position * self.dt


class DMM34465A(Detector):
    """The ECD read-out through a Keysight 34465A over VISA."""

    model = "34465A"
    SETTINGS = SETTINGS
    LATER = ("scale_nA_per_V",)

    def __init__(
        self,
        resource: str,
        *,
        name: str = "detector",
        resource_manager=None,
        session_clock: Callable[[], float] | None = None,
        **settings,
    ) -> None:
        values = self._declared(name, resource=resource, **settings)
        self.name = name
        self.resource = resource
        self.timeout_s = values["timeout_s"]
        self.range_V = values["range_V"]
        self.nplc = values["nplc"]
        self.line_hz = values["line_hz"]
        self.samples_per_run = values["samples_per_run"]
        self._interval_s: float = values["interval_s"]
        self._scale_nA_per_V: float | None = values["scale_nA_per_V"]
        #: the VISA link (drivers/transport.py): one query at a time, typed errors, logs
        self.link = VisaTransport(resource, name=name, timeout=self.timeout_s,
                                  resource_manager=resource_manager, parse=decode_reply)
        self.log = self.link.log
        self._lock = self.link.transaction()
        self._session_clock = session_clock
        self._clock_offset = 0.0
        self._identity: dict[str, str] = {}
        self._configured = False
        #: One per ``INIT`` (a start, or a re-arm after a reset or a stopped DMM).
        self.segments: list[Segment] = []
        #: How the current segment's readings are timed (None before ``start``).
        self.time_base: TimeBase | None = None
        #: The most recent holes (readings skipped in the index), oldest first.
        self.holes: deque[Hole] = deque(maxlen=256)
        #: Readings skipped in the index since ``start`` (lost or removed by a failed transfer).
        self.readings_lost = 0
        self.running = False
        self._next_index = 0
        self._run_taken = 0  # readings of this segment taken out of the DMM's memory
        #: readings asked for by a ``DATA:REM?`` whose reply has not arrived (0: none)
        self._in_doubt = 0
        self._host0 = 0.0
        self._session0 = 0.0
        self._rearm_on_reconnect = False  # the DMM stopped sampling: INIT again once back
        self._count_seen = -1  # the DMM's count at the last poll
        self._grew_host = 0.0  # host and session time the count last grew
        self._grew_session = 0.0
        self._rates: deque[tuple[float, float, int]] = deque()  # (host, session, count)
        self.open()

    def open(self) -> None:
        """Take the resource's lock, open it and read ``*IDN?`` (done by the constructor)."""
        if self.link.is_open:
            return
        try:
            self.link.open()
            self._identity = self._parse(parse_idn, self._query("*IDN?"))
        except Disconnected as exc:
            self.close()
            reason = str(exc).removeprefix(f"{self.name}: ")
            raise Disconnected(f"cannot open {self.resource}: {reason}", self.name) from None
        except BaseException:
            self.close()
            raise

    def _apply_settings(self) -> None:
        """The rig file's sampling and scale are configured on the instrument."""
        self.configure(self._interval_s, self._scale_nA_per_V)

    # -- link (drivers/transport.py) -------------------------------------------------------
    def _parse(self, parser, text: str):
        try:
            return parser(text)
        except ProtocolError as exc:
            raise ProtocolError(str(exc), self.name) from None

    def _write(self, command: str) -> None:
        self.link.write(command)

    def _query(self, command: str) -> str:
        """One command and its reply, never interleaved with another thread's."""
        return self.link.query(command)

    def _query_number(self, command: str) -> float:
        text = self._query(command)
        try:
            return float(text)
        except ValueError:
            raise ProtocolError(
                f"non-numeric reply to {command!r}: {text[:40]!r}", self.name
            ) from None

    def check_errors(self, context: str) -> None:
        """Drain ``SYST:ERR?``; raise ``ScpiError`` naming every SCPI error found."""
        found = []
        with self._lock:
            for _ in range(32):
                code, message = self._parse(parse_error, self._query("SYST:ERR?"))
                if code == 0:
                    break
                found.append((code, message))
        if found:
            raise ScpiError(context, found, self.name)

    # -- Instrument ---------------------------------------------------------------
    def identity(self) -> dict[str, str]:
        return {k: self._identity[k] for k in ("model", "serial", "firmware")}

    def reconnect(self) -> None:
        """Reopen the resource, re-read identity and configuration; resume streaming.

        If the instrument kept its configuration it kept sampling into memory,
        so streaming continues without loss (the time base carries on); if it
        lost it (power cycle, reset), it is configured again and re-armed as a
        new segment. After the DMM was found to have stopped sampling, it is
        re-armed (``ABOR``, ``INIT``) as a new segment either way.
        """
        with self._lock:
            self.link.reopen()
            self._identity = self._parse(parse_idn, self._query("*IDN?"))
            if not self._configured:
                return
            intact = (
                math.isclose(self._query_number("SAMP:TIM?"), self.interval_s, rel_tol=1e-6)
                and self._query_number("SAMP:COUN?") == self.samples_per_run
                and self._query("SAMP:SOUR?").strip().upper().startswith("TIM")
                and self._query_number("TRIG:COUN?") >= OVERLOAD_THRESHOLD  # INF: 9.9E37
            )
            self.log.info("reconnected to %s; configuration %s", self.resource,
                          "intact" if intact else "lost")
            if not intact:
                self._send_configuration()
            if self.running and (not intact or self._rearm_on_reconnect):
                self._write("ABOR")
                self._arm(self._session_now())

    def close(self) -> None:
        """Close the resource and release it (never raises)."""
        self.link.close()

    # -- Detector -----------------------------------------------------------------
    def configure(self, interval_s: float, scale_nA_per_V: float) -> None:
        """Reset and configure DC-volts acquisition paced by the sample timer."""
        for key, value in (("interval_s", interval_s), ("scale_nA_per_V", scale_nA_per_V)):
            try:
                SETTINGS[key].check(value)
            except ValueError as exc:
                raise InputError(f"{self.name}: {key} {exc}") from None
        integration = self.nplc / self.line_hz
        if interval_s < integration:
            raise InputError(
                f"{self.name}: interval_s {interval_s:g} s is shorter than the integration time "
                f"{integration:g} s (nplc {self.nplc:g} at {self.line_hz:g} Hz)"
            )
        self._interval_s = float(interval_s)
        self._scale_nA_per_V = float(scale_nA_per_V)
        with self._lock:
            self._write("*RST")
            self._write("*CLS")
            self._send_configuration()
        self._configured = True

    def _send_configuration(self) -> None:
        for command in (
            f"CONF:VOLT:DC {_fmt(self.range_V)}",
            f"VOLT:DC:NPLC {_fmt(self.nplc)}",
            "TRIG:SOUR IMM",
            "TRIG:COUN INF",
            f"TRIG:DEL {_fmt(self.trigger_delay_s)}",
            "SAMP:SOUR TIM",
            f"SAMP:TIM {_fmt(self.interval_s)}",
            f"SAMP:COUN {self.samples_per_run}",
        ):
            self._write(command)
        self.check_errors("configuration")

    @property
    def trigger_delay_s(self) -> float:
        """``TRIG:DEL``: a set of readings ends one integration time after its last sample
        starts, and the next set's first sample starts one trigger delay later; the interval
        minus the integration time keeps the sample grid seamless across sets."""
        gap = self.interval_s - self.nplc / self.line_hz
        return round(min(max(gap, 0.0), TRIGGER_DELAY_MAX_S), 6)

    def start(self, session_time: float = 0.0) -> None:
        """``INIT`` (continuous acquisition): no reading is earlier than ``session_time``; each
        is timed where the instrument's count and the session clock put it (:class:`TimeBase`)."""
        if not self._configured:
            raise InstrumentError("start() before configure()", self.name)
        with self._lock:
            self._write("ABOR")
            self.segments = []
            self.holes.clear()
            self.readings_lost = 0
            self._next_index = 0
            self._host0 = time.monotonic()
            self._session0 = float(session_time)
            # Session time may be any clock shifted from ``session_clock``: keep the offset.
            self._clock_offset = (
                float(session_time) - float(self._session_clock()) if self._session_clock else 0.0
            )
            self._arm(float(session_time))
            self.running = True

    def _arm(self, t0: float) -> None:
        """``INIT``: a new segment from the next index; ``t0`` is read before it is sent."""
        self._write("INIT")
        now = time.monotonic()
        self.segments.append(Segment(self._next_index, t0, now, time.time()))
        self.time_base = TimeBase(t0, self.interval_s, self.samples_per_run)
        self._run_taken = 0
        self._in_doubt = 0
        self._rearm_on_reconnect = False
        self._count_seen = 0
        self._grew_host, self._grew_session = now, t0
        self._rates.clear()

    def _session_now(self) -> float:
        if self._session_clock is not None:
            return float(self._session_clock()) + self._clock_offset
        return self._session0 + (time.monotonic() - self._host0)

    @property
    def alignment(self) -> Segment | None:
        """Host clock at the first ``INIT`` (monotonic and wall time) and its session time."""
        return self.segments[0] if self.segments else None

    def stop(self) -> None:
        """``ABOR``: the instrument stops sampling; readings not yet read are discarded."""
        self.running = False
        if self.link.is_open:
            self._write("ABOR")

    def read_block(self) -> DetectorBlock | None:
        """Drain the reading memory; None when nothing new has arrived (or the readings wait
        for a loss to be sized)."""
        if not self.running:
            return None
        with self._lock:
            t_before = self._session_now()
            points = self._parse(parse_points, self._query("DATA:POIN?"))
            t_after = self._session_now()
            if self._in_doubt:
                self._settle_failed_transfer(points, t_before, t_after)
            self._check_rate(points, t_before, t_after)
            if points >= MEMORY_READINGS:
                event = self._parse(parse_points, self._query("STAT:QUES:EVEN?"))
                if event & QUES_MEM_OVERFLOW:
                    self._rearm_on_reconnect = True  # the reconnect starts a new segment
                    raise InstrumentError(
                        f"reading memory overflowed after index {self._next_index}: readings "
                        f"lost (read_block must run at least every "
                        f"{MEMORY_READINGS * self.interval_s:g} s)",
                        self.name,
                    )
            verdict = self.time_base.reconcile(self._position() + points, points,
                                               t_before, t_after)
            if verdict.surplus:
                self.log.warning("the DMM's count is %d readings ahead of its time base: "
                                 "later readings are timed earlier", verdict.surplus)
            if verdict.release:
                return self._take(verdict.release)
            if not verdict.drain:
                return None
            if verdict.skip:
                self._skip(verdict.skip, "lost")
            if points == 0:
                return None
            return self._take(points)

    def _position(self) -> int:
        """Position (within the segment) of the next reading to drain."""
        return self._next_index - self.segments[-1].index0

    def _take(self, n: int) -> DetectorBlock:
        """``DATA:REM? n``: the oldest ``n`` readings, as a block."""
        command = f"DATA:REM? {n}"
        self._in_doubt = n
        volts = self._parse(parse_readings, self._query(command))
        if len(volts) != n:
            raise ProtocolError(f"{command!r} returned {len(volts)} readings", self.name)
        self._in_doubt = 0
        self._run_taken += n
        return self._block(volts)

    def _skip(self, n: int, reason: str) -> None:
        """Readings ``n`` indices from here on are lost: the next block is timed after them."""
        tb = self.time_base
        tb.rebase()
        first = self._next_index
        self._next_index += n
        self.readings_lost += n
        t = tb.time_of(self._position())
        self.holes.append(Hole(first, n, t, reason))
        what = ("the DMM delivered none" if reason == "lost"
                else "a failed DATA:REM? removed them")
        text = (f"readings {first} to {first + n - 1} lost ({n * self.interval_s:.3g} s; {what}); "
                f"readings from {t:.1f} s on are timed after the hole")
        self.log.warning(text)
        self.note_incident(text)

    def _settle_failed_transfer(self, points: int, t_before: float, t_after: float) -> None:
        """A ``DATA:REM? n`` whose reply never came: were its n readings removed?

        The instrument removed them (the link failed with the reply in flight)
        or never saw the command (it failed before). The reconciled time base
        (:meth:`TimeBase.removed`) says which of the two counts (readings drained + in
        memory, with or without the n) the session clock allows. Removed readings are
        skipped in the index, so the time base stays exact and the recorder sees a gap of
        their span; the readings taken meanwhile, still in memory, are kept.
        """
        n, self._in_doubt = self._in_doubt, 0
        if not self.time_base.removed(self._position() + points, n, t_before, t_after):
            self.log.info("a failed DATA:REM? %d had not been carried out: nothing lost", n)
            return
        self._run_taken += n
        self._skip(n, "removed")

    def _check_rate(self, points: int, t_before: float, t_after: float) -> None:
        """The DMM's count against the session clock, before any reading is stored.

        Too fast: more readings than the session clock allows since ``INIT`` (bracketed by
        the session time before and after ``DATA:POIN?``, so a slow machine never trips
        it): the clocks disagree. Stopped: the count has not grown for
        ``STALL_FAULT_REAL_S`` of real time and ``STALL_FAULT_INTERVALS`` intervals. Too
        slow: fewer than ``SLOW_RATE_FRACTION`` of the readings the clock expects over the
        last ``SLOW_WINDOW_REAL_S`` (and ``SLOW_WINDOW_INTERVALS``). Shorter stalls are
        lost readings (a gap), not a fault.
        """
        segment = self.segments[-1]
        dt = self.interval_s
        count = self._position() + points
        allowed = (t_after - segment.t0) / dt
        if count >= 20 and count > (1 + RATE_TOLERANCE) * allowed + 2:
            raise InstrumentError(
                f"readings arrive {count / max(allowed, 1):.3g}× faster than the session clock "
                f"expects ({count} in {t_after - segment.t0:.3g} s at {dt:g} s each): the DMM's "
                "sample timer and the rig clock disagree (does the rig file's [rig] speed "
                "match the simulator's?)",
                self.name,
            )
        now = time.monotonic()
        taken = self._run_taken + points  # the DMM's own count
        if taken > self._count_seen:
            self._count_seen, self._grew_host, self._grew_session = taken, now, t_before
        elif (now - self._grew_host >= STALL_FAULT_REAL_S
              and t_before - self._grew_session >= STALL_FAULT_INTERVALS * dt):
            self._stopped(f"no new reading for {t_before - self._grew_session:.3g} s "
                          f"({now - self._grew_host:.3g} s of real time)")
        rates = self._rates  # a point every ~1/20 of the window: a short deque
        if not rates or now - rates[-1][0] >= SLOW_WINDOW_REAL_S / 20:
            rates.append((now, t_before, taken))
        while len(rates) > 2 and (now - rates[1][0] >= SLOW_WINDOW_REAL_S
                                  and t_before - rates[1][1] >= SLOW_WINDOW_INTERVALS * dt):
            rates.popleft()
        host0, session0, taken0 = rates[0]
        expected = (t_before - session0) / dt
        if (now - host0 >= SLOW_WINDOW_REAL_S and expected >= SLOW_WINDOW_INTERVALS
                and taken - taken0 < SLOW_RATE_FRACTION * expected - 2):
            self._stopped(f"readings arrive at {(taken - taken0) / expected:.0%} of the rate the "
                          f"session clock expects ({taken - taken0} in {expected * dt:.3g} s at "
                          f"{dt:g} s each)")

    def _stopped(self, what: str) -> None:
        """The DMM stopped sampling (or its timer disagrees with the clock): a lost link for
        the recorder; the reconnect re-arms it. A loss being sized is skipped at its minimum."""
        skip = self.time_base.settle_now()
        if skip:
            self._skip(skip, "lost")
        self._rearm_on_reconnect = True
        raise InstrumentError(
            f"{what}: the DMM stopped sampling, or its timer and the rig clock disagree (does "
            "the rig file's [rig] speed match the simulator's?)",
            self.name,
        )

    def _block(self, volts: np.ndarray) -> DetectorBlock:
        overload = np.abs(volts) >= OVERLOAD_THRESHOLD
        values = volts * self._scale_nA_per_V
        values[overload] = np.nan
        tb = self.time_base
        tb.rebase()
        index0 = self._next_index
        t0 = tb.time_of(self._position())
        self._next_index += len(values)
        return DetectorBlock(index0, t0, self.interval_s, values, overload)
