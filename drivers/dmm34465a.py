"""Keysight 34465A DMM digitising the ECD's analog output, over VISA (pyvisa + pyvisa-py).

The DMM measures DC volts paced by its own sample timer (``SAMP:SOUR TIM``)
and stores readings in its 50,000-reading memory; :meth:`DMM34465A.read_block`
drains that memory with ``DATA:POIN?`` then ``DATA:REM? n`` and converts
volts to nA with the detector's scale. Sample times come from the sample
index × interval, never from the host clock; the host clock is only recorded
at each ``INIT`` (:attr:`DMM34465A.alignment`, :attr:`DMM34465A.segments`).

A run takes ``samples_per_run`` readings (``SAMP:COUN``, at most 1,000,000:
27.8 h at 10 Hz); when it completes the driver drains it and re-arms with
``INIT``, which starts a new *segment*: indices stay contiguous, and the
segment's ``t0`` is read from the session clock, because the instrument
idles between the last reading of a run and the next ``INIT``. A reply lost
in the middle of a ``DATA:REM?`` transfer also starts a new segment (those
readings are gone; the time axis stays true). Reading memory overflow
(readings not drained for 50,000 intervals) raises ``InstrumentError``.

Link errors: a VISA timeout → ``InstrumentTimeout``; the socket closed or
reset, or any other VISA or socket failure → ``Disconnected`` (a closed socket
is detected at once, not after the timeout, by peeking the pyvisa-py socket);
an unparsable reply → ``ProtocolError``. The resource is held exclusively
through a lock file (``raphe.drivers.locks``), and one query (command and
reply) at a time. Readings arriving at a rate that disagrees with the session
clock by more than 20 % (a simulated rig whose ``[rig] speed`` differs from
the simulator's, or a DMM that stopped sampling) raise ``InstrumentError``
before any wrong time is stored. All traffic is logged at DEBUG under
``raphe.instrument.<name>`` (the rig-file table: ``detector``).
"""

from __future__ import annotations

import logging
import math
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyvisa
from pyvisa.rname import InvalidResourceName, parse_resource_name

from raphe.drivers.base import Detector
from raphe.drivers.locks import ResourceLock
from raphe.drivers.settings import REQUIRED, Setting
from raphe.errors import (
    Disconnected,
    InputError,
    InstrumentError,
    InstrumentTimeout,
    ProtocolError,
)
from raphe.records import DetectorBlock

MEMORY_READINGS = 50_000
MAX_SAMPLE_COUNT = 1_000_000
OVERLOAD_THRESHOLD = 9.0e37  # the instrument reports overload as ±9.9E37
QUES_MEM_OVERFLOW = 1 << 14
RANGES_V = (0.1, 1.0, 10.0, 100.0, 1000.0)

#: Readings must arrive within this factor of the rate the session clock expects.
RATE_TOLERANCE = 0.2
#: The rate check waits for this many intervals and this much real time after INIT.
RATE_CHECK_INTERVALS = 100
RATE_CHECK_REAL_S = 2.0

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
        int, MAX_SAMPLE_COUNT, "readings per INIT (SAMP:COUN); re-armed after",
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
    """One INIT: readings from ``index0`` on are at ``t0 + (i - index0) * dt`` (session s)."""

    index0: int
    t0: float
    host_monotonic: float
    wall_time: float


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
        self.log = logging.getLogger(f"raphe.instrument.{name}")
        self._own_rm = resource_manager is None
        self._rm = resource_manager
        self._inst = None
        self._lock = threading.RLock()
        self._resource_lock = ResourceLock(resource, name)
        self._session_clock = session_clock
        self._clock_offset = 0.0
        self._identity: dict[str, str] = {}
        self._configured = False
        self.segments: list[Segment] = []
        self.running = False
        self._next_index = 0
        self._run_taken = 0
        #: readings asked for by a ``DATA:REM?`` whose reply has not arrived (0: none)
        self._in_doubt = 0
        self._stale = False
        self._host0 = 0.0
        self._session0 = 0.0
        self.open()

    def open(self) -> None:
        """Take the resource's lock, open it and read ``*IDN?`` (done by the constructor)."""
        if self._inst is not None:
            return
        self._resource_lock.acquire()
        try:
            self._open()
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

    # -- link -------------------------------------------------------------------
    def _open(self) -> None:
        try:
            parse_resource_name(self.resource)
            if self._rm is None:
                self._rm = pyvisa.ResourceManager("@py")
            self._inst = self._rm.open_resource(
                self.resource,
                read_termination="\n",
                write_termination="\n",
                timeout=int(self.timeout_s * 1000),
            )
        except InvalidResourceName as exc:
            raise InputError(f"{self.name}: bad VISA resource {self.resource!r}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - pyvisa-py raises a bare Exception on connect
            self._inst = None
            raise Disconnected(f"cannot open {self.resource}: {exc}", self.name) from None
        sock = self._socket()
        if sock is not None:  # small commands must not wait for delayed ACKs (Nagle)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:
                raise Disconnected(f"cannot open {self.resource}: {exc}", self.name) from None
        self.log.debug("opened %s", self.resource)

    def _socket(self) -> socket.socket | None:
        """The pyvisa-py session's socket (None for other backends such as pyvisa-sim)."""
        try:
            session = self._rm.visalib.sessions[self._inst.session]
        except (AttributeError, KeyError, TypeError, pyvisa.errors.Error):
            return None
        sock = getattr(session, "interface", None)
        return sock if isinstance(sock, socket.socket) else None

    def _pending(self) -> bool:
        try:
            return bool(self._rm.visalib.sessions[self._inst.session]._pending_buffer)
        except (AttributeError, KeyError, TypeError, pyvisa.errors.Error):
            return False

    def _parse(self, parser, text: str):
        try:
            return parser(text)
        except ProtocolError as exc:
            raise ProtocolError(str(exc), self.name) from None

    def _write(self, command: str) -> None:
        with self._lock:
            inst = self._inst
            if inst is None:
                raise Disconnected(f"{self.resource} is not open", self.name)
            self.log.debug("> %s", command)
            try:
                inst.write(command)
            except pyvisa.errors.VisaIOError as exc:
                raise self._visa_error(exc, command) from None
            except (pyvisa.errors.Error, OSError, ValueError, TypeError, AttributeError) as exc:
                raise Disconnected(f"sending {command!r} failed: {exc}", self.name) from None

    def _read(self, command: str) -> str:
        inst = self._inst
        if inst is None:
            raise Disconnected(f"{self.resource} is not open", self.name)
        sock = self._socket()
        if sock is not None and not self._pending():
            self._wait_readable(sock, command)
        try:
            raw = inst.read_raw()
        except pyvisa.errors.VisaIOError as exc:
            raise self._visa_error(exc, command) from None
        except (pyvisa.errors.Error, OSError, ValueError, TypeError, AttributeError) as exc:
            raise Disconnected(
                f"reading the reply to {command!r} failed: {exc}", self.name
            ) from None
        self.log.debug("< %r", raw if len(raw) < 200 else raw[:200] + b"...")
        return self._parse(decode_reply, raw)

    def _wait_readable(self, sock: socket.socket, command: str) -> None:
        """Wait for the first reply byte; EOF or reset means the link is gone."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InstrumentTimeout(
                    f"no reply to {command!r} within {self.timeout_s:g} s", self.name
                )
            try:
                ready, _, _ = select.select([sock], [], [], remaining)
                if not ready:
                    continue
                data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except (OSError, ValueError, TypeError) as exc:
                raise Disconnected(
                    f"link lost waiting for {command!r}: {exc}", self.name
                ) from None
            if not data:
                raise Disconnected(
                    f"connection closed by the instrument at {command!r}", self.name
                )
            return

    def _visa_error(self, exc, command: str) -> InstrumentError:
        if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
            return InstrumentTimeout(
                f"no reply to {command!r} within {self.timeout_s:g} s", self.name
            )
        return Disconnected(f"{command!r}: {exc.description}", self.name)

    def _query(self, command: str) -> str:
        """One command and its reply, never interleaved with another thread's."""
        with self._lock:
            if self._stale:
                self._discard_input()
            self._write(command)
            try:
                return self._read(command)
            except InstrumentTimeout:
                self._stale = True  # a late reply must not be taken for the next one
                raise

    def _query_number(self, command: str) -> float:
        text = self._query(command)
        try:
            return float(text)
        except ValueError:
            raise ProtocolError(
                f"non-numeric reply to {command!r}: {text[:40]!r}", self.name
            ) from None

    def _discard_input(self) -> None:
        self._stale = False
        try:
            self._inst.flush(pyvisa.constants.BufferOperation.discard_read_buffer)
        except (pyvisa.errors.Error, OSError, AttributeError, ValueError, TypeError) as exc:
            self.log.debug("discarding input failed: %s", exc)

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
        so streaming continues without loss; if it lost it (power cycle,
        reset), it is configured again and re-armed as a new segment.
        """
        with self._lock:
            self._close_resource()
            self._resource_lock.acquire()
            self._open()
            self._stale = False
            self._identity = self._parse(parse_idn, self._query("*IDN?"))
            if not self._configured:
                return
            intact = (
                math.isclose(self._query_number("SAMP:TIM?"), self.interval_s, rel_tol=1e-6)
                and self._query_number("SAMP:COUN?") == self.samples_per_run
                and self._query("SAMP:SOUR?").strip().upper().startswith("TIM")
            )
            self.log.info("reconnected to %s; configuration %s", self.resource,
                          "intact" if intact else "lost")
            if not intact:
                self._send_configuration()
                if self.running:
                    self._arm(self._session_now())

    def close(self) -> None:
        """Close the resource and release it (never raises)."""
        self._close_resource()
        if self._own_rm and self._rm is not None:
            try:
                self._rm.close()
            except Exception as exc:  # noqa: BLE001 - closing must not fail
                self.log.debug("closing the resource manager: %s", exc)
            self._rm = None
        self._resource_lock.release()

    def _close_resource(self) -> None:
        inst, self._inst = self._inst, None
        if inst is not None:
            try:
                inst.close()
            except Exception as exc:  # noqa: BLE001 - closing must not fail
                self.log.debug("closing %s: %s", self.resource, exc)

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
            "SAMP:SOUR TIM",
            f"SAMP:TIM {_fmt(self.interval_s)}",
            f"SAMP:COUN {self.samples_per_run}",
        ):
            self._write(command)
        self.check_errors("configuration")

    def start(self, session_time: float = 0.0) -> None:
        """``INIT``: sample 0 is at ``session_time``; later ones at index × interval."""
        if not self._configured:
            raise InstrumentError("start() before configure()", self.name)
        with self._lock:
            self._write("ABOR")
            self.segments = []
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
        self._write("INIT")
        self.segments.append(Segment(self._next_index, t0, time.monotonic(), time.time()))
        self._run_taken = 0
        self._in_doubt = 0

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
        if self._inst is not None:
            self._write("ABOR")

    def read_block(self) -> DetectorBlock | None:
        """Drain the reading memory; None when nothing new has arrived."""
        if not self.running:
            return None
        with self._lock:
            t_before = self._session_now()
            points = self._parse(parse_points, self._query("DATA:POIN?"))
            if self._in_doubt:
                self._settle_failed_transfer(points, t_before, self._session_now())
            self._check_rate(points, t_before, self._session_now())
            if points >= MEMORY_READINGS:
                event = self._parse(parse_points, self._query("STAT:QUES:EVEN?"))
                if event & QUES_MEM_OVERFLOW:
                    self.running = False
                    raise InstrumentError(
                        f"reading memory overflowed after index {self._next_index}: readings "
                        f"lost (read_block must run at least every "
                        f"{MEMORY_READINGS * self.interval_s:g} s)",
                        self.name,
                    )
            if points == 0:
                self._rearm_if_done()
                return None
            command = f"DATA:REM? {points}"
            self._in_doubt = points
            volts = self._parse(parse_readings, self._query(command))
            if len(volts) != points:
                raise ProtocolError(f"{command!r} returned {len(volts)} readings", self.name)
            self._in_doubt = 0
            block = self._block(volts)
            self._run_taken += points
            self._rearm_if_done()
            return block

    def _settle_failed_transfer(self, points: int, t_before: float, t_after: float) -> None:
        """A ``DATA:REM? n`` whose reply never came: were its n readings removed?

        The instrument removed them (the link failed with the reply in flight)
        or never saw the command (it failed before). The session clock says
        how many readings this run has taken, bracketed by the ``DATA:POIN?``
        just asked; whichever of 0 or n lost is nearer that count decides. Removed
        readings are skipped in the index, so the time base stays exact and
        the recorder sees a gap of their span; the readings taken meanwhile,
        still in memory, are kept.
        """
        n, self._in_doubt = self._in_doubt, 0
        segment = self.segments[-1]
        dt = self.interval_s

        def lost(t: float) -> float:
            taken = min(self.samples_per_run, (t - segment.t0) / dt)
            return taken - self._run_taken - points

        if (lost(t_before) + lost(t_after)) / 2 < n / 2:  # nearer 0 lost than n
            self.log.info("a failed DATA:REM? %d had not been carried out: nothing lost", n)
            return
        self.log.warning("readings %d to %d were removed by a failed DATA:REM? %d: lost",
                         self._next_index, self._next_index + n - 1, n)
        self._next_index += n
        self._run_taken += n

    def _check_rate(self, points: int, t_before: float, t_after: float) -> None:
        """Readings of this run vs the number the session clock allows, before any is stored.

        The instrument's count at ``DATA:POIN?`` lies between what the session
        clock allows at ``t_before`` and at ``t_after``, so only a real
        disagreement of the two clocks trips this, never a slow machine. Too
        slow is judged only after ``RATE_CHECK_INTERVALS`` intervals and
        ``RATE_CHECK_REAL_S`` of real time.
        """
        segment = self.segments[-1]
        count = self._run_taken + points
        dt = self.interval_s
        allowed = (t_after - segment.t0) / dt
        if count >= 20 and count > (1 + RATE_TOLERANCE) * allowed + 2:
            raise InstrumentError(
                f"readings arrive {count / max(allowed, 1):.3g}× faster than the session clock "
                f"expects ({count} in {t_after - segment.t0:.3g} s at {dt:g} s each): the DMM's "
                "sample timer and the rig clock disagree (does the rig file's [rig] speed "
                "match the simulator's?)",
                self.name,
            )
        expected = (t_before - segment.t0) / dt
        if (
            expected >= RATE_CHECK_INTERVALS
            and time.monotonic() - segment.host_monotonic >= RATE_CHECK_REAL_S
            and count < (1 - RATE_TOLERANCE) * expected - 2
        ):
            raise InstrumentError(
                f"readings arrive at {count / expected:.0%} of the rate the session clock "
                f"expects ({count} in {t_before - segment.t0:.3g} s at {dt:g} s each): the DMM "
                "stopped sampling, or its timer and the rig clock disagree (does the rig file's "
                "[rig] speed match the simulator's?)",
                self.name,
            )

    def _rearm_if_done(self) -> None:
        if self._run_taken >= self.samples_per_run:
            t0 = self._session_now()
            self._arm(t0)
            self.log.info("run of %d readings complete; re-armed at index %d (t0 %.3f s)",
                          self.samples_per_run, self._next_index, t0)

    def _block(self, volts: np.ndarray) -> DetectorBlock:
        overload = np.abs(volts) >= OVERLOAD_THRESHOLD
        values = volts * self._scale_nA_per_V
        values[overload] = np.nan
        segment = self.segments[-1]
        index0 = self._next_index
        self._next_index += len(values)
        t0 = segment.t0 + (index0 - segment.index0) * self.interval_s
        return DetectorBlock(index0, t0, self.interval_s, values, overload)
