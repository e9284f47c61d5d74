"""Reanalyse a recorded session: replay its stream through the analysis core.

The original file is only read. With ``out``, a new session is written holding
the same signal blocks, injections and events in the same order, the pump,
fraction, instrument and audit rows, and the new method's results. The new session stores
the method self-contained (standards inline) and, at t = 0, the calibration and
probe recovery in force at its start.

A new session that cannot be written whole (the disk fills up, an I/O error) is removed:
no file is left that looks like a session but lacks part of the replay. The error is a
:class:`~raphe.acquisition.recover.NotWritten` (the command line exits 5).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from raphe.acquisition.analysis.method import AnalysisMethod, load_method, parse_method
from raphe.acquisition.analysis.quantifier import LiveQuantifier
from raphe.acquisition.analysis.recovery import flow_warnings, session_flow
from raphe.acquisition.reader import SessionReader
from raphe.acquisition.recover import NotWritten, keep_until_exit, write_failure
from raphe.acquisition.replay import Replay
from raphe.acquisition.session import RESERVE_BYTES, UNCLEAN, DiskFull, Session
from raphe.errors import InputError, RapheError
from raphe.records import SampleResult

log = logging.getLogger(__name__)


#: Samples a replay hands the new session between waits for its writer: a replay runs
#: far ahead of real time, and the writer keeps free four times its largest flush.
SYNC_EVERY = 1 << 14


def _to_session(session: Session):
    """A stream callback handing each replayed item to the new session (which passes it
    on to its subscribers). Every ``SYNC_EVERY`` samples it waits until they are written,
    so no flush is larger than that (and a full disk stops the replay soon)."""
    add = {"blocks": session.add_block, "injections": session.add_injection,
           "events": session.add_event}
    fed = [0]

    def feed(kind: str, record) -> None:
        add[kind](record)
        if kind == "blocks":
            fed[0] += len(record)
            if fed[0] >= SYNC_EVERY:
                fed[0] = 0
                session.sync()

    return feed


def _create(out: Path, source: Path, **settings) -> Session:
    """``Session.create``; a disk that cannot take the new file is :class:`NotWritten`, and
    nothing is left of it."""
    try:
        free = shutil.disk_usage(out.parent).free
    except OSError:
        free = None
    if free is not None and free < RESERVE_BYTES:
        raise NotWritten(f"cannot write {out}: "
                         f"{write_failure(DiskFull(out.parent, free, RESERVE_BYTES))}; "
                         f"{source} is untouched")
    try:
        return Session.create(out, **settings)
    except (InputError, OSError, RuntimeError) as exc:
        cause = exc.__cause__ if isinstance(exc, InputError) else exc
        if not isinstance(cause, OSError | RuntimeError) or isinstance(cause, FileExistsError):
            raise  # refused (it exists, no such folder): nothing was created
        if not isinstance(exc, InputError):  # created, but HDF5 could not close it
            UNCLEAN.add(str(out))
        out.unlink(missing_ok=True)  # created by this call (HDF5 creates exclusively)
        raise NotWritten(f"cannot write {out}: {write_failure(cause)}; {source} is "
                         "untouched") from None


def _close(session: Session, source: Path, end_reason: str = "", end_detail: str = "") -> None:
    """Close the new session as the original ended. If it could not be written whole, it
    is removed and :class:`NotWritten` raised."""
    try:
        session.close(end_reason=end_reason, end_detail=end_detail)
    except RapheError:
        if session.error is None:
            raise
    if session.error is None:
        return
    # Its writer may hold handles HDF5 failed to close (even closing "cleanly" can fail on a
    # disk that is already full): never released, and the command line leaves at once.
    keep_until_exit(session)
    UNCLEAN.add(str(session.path))
    session.path.unlink(missing_ok=True)
    raise NotWritten(f"cannot write {session.path}: {write_failure(session.error)}; the "
                     f"unfinished replay was removed, {source} is untouched")


def session_method(reader: SessionReader, path: Path, method: str | None, *,
                   calibration: str | Path | None = None,
                   recovery: str | Path | None = None) -> AnalysisMethod:
    """The method given by name or path, else the one stored in the session; with the
    calibration and/or probe recovery of other sessions when they are named."""
    if method:
        return load_method(method, calibration=calibration, recovery=recovery)
    text = reader.metadata.get("method_toml", "")
    if not text.strip():
        raise InputError(f"{path} stores no analysis method; give one with --method")
    try:
        return parse_method(text, source=f"{path}:/analysis/method", calibration=calibration,
                            recovery=recovery)
    except InputError as exc:
        if calibration is not None or recovery is not None:
            raise
        raise InputError(f"{exc} (the method stored in {path.name}; give the method with "
                         "--method, or its calibration with --calibration)") from None


def reanalyse(path: str | Path, method: str | None = None, out: str | Path | None = None,
              speed: float | None = None, *, calibration: str | Path | None = None,
              recovery: str | Path | None = None,
              on_warning: Callable[[str], None] | None = None) -> list[SampleResult]:
    """Quantify every injection of the session at ``path``; optionally write ``out``.

    ``calibration`` / ``recovery`` name sessions whose calibration / probe recovery the
    method uses instead of its own. ``on_warning`` receives each warning (default: the
    log), e.g. a recovery measured at another flow than the session's.
    """
    path = Path(path)
    warn = on_warning or log.warning
    if out is not None:
        out = Path(out)
        if out.exists() or out.resolve() == path.resolve():
            raise InputError(f"{out} already exists; a session is never overwritten")
    with SessionReader(path) as reader:
        analysis = session_method(reader, path, method, calibration=calibration,
                                  recovery=recovery)
        if analysis.recovery:
            for line in flow_warnings(analysis.recovery, session_flow(reader).perfused()):
                warn(line)
        session = None
        if out is not None:
            meta = reader.metadata
            session = _create(
                out, path, operator=meta.get("operator", ""), animal_id=meta.get("animal_id", ""),
                notes=meta.get("notes", ""), rig=meta.get("rig"),
                protocol=meta.get("protocol") if meta.get("protocol", {}).get("source") else None,
                method_toml=analysis.text, signal_dt=meta["signal"]["dt"],
                scale_nA_per_V=meta["signal"]["scale_nA_per_V"],
            )

        def store(add, *args) -> None:
            try:
                add(*args)
            except RapheError:
                if session.error is None:
                    raise  # a failed write is reported once, when the replay ends

        def on_result(result: SampleResult) -> None:
            if session is not None:
                store(session.add_result, result)

        def on_calibration(t: float, analyte: str, fit: dict) -> None:
            if session is not None:
                store(session.add_calibration, t, analyte, fit)

        def on_reference(record) -> None:
            if session is not None:
                store(session.add, "baseline", record)

        quantifier = LiveQuantifier(analysis, on_result=on_result,
                                    on_calibration=on_calibration, on_reference=on_reference)
        try:
            if session is None:
                Replay(reader, speed=speed).run(quantifier.feed)
                quantifier.finish()
            else:
                # What is in force from the start: the method's calibration and recovery.
                for analyte, fit in analysis.initial_fits():
                    session.add_calibration(0.0, analyte, fit)
                for record in analysis.recovery.values():
                    session.add("recovery", record)
                analysis_feed = session.subscribe(quantifier.feed, name="analysis")
                Replay(reader, speed=speed).run(_to_session(session))
                analysis_feed.call(quantifier.finish)
                session.unsubscribe(analysis_feed)
            if session is not None:
                for row in reader.pump():
                    session.add_pump_state(row)
                for row in reader.fractions():
                    session.add_fraction(row)
                for row in reader.records("instruments"):
                    session.add("instruments", row)
                for row in reader.audit():
                    session.add_audit(row.get("who", ""), row.get("what", ""),
                                      row.get("previous", ""), row.get("t", float("nan")))
                session.add_audit("raphe replay", f"reanalysed {path.name} with method "
                                  f"{analysis.name!r}", "")
        except BaseException:
            if session is not None:  # removed if it could not be written (NotWritten)
                _close(session, path, end_reason=str(reader.metadata.get("end_reason", "")),
                       end_detail=str(reader.metadata.get("end_detail", "")))
            raise
        if session is not None:  # the run ended as the original did
            _close(session, path, end_reason=str(reader.metadata.get("end_reason", "")),
                   end_detail=str(reader.metadata.get("end_detail", "")))
    # The last report of each result (a result is reported again when its % of baseline
    # reference changes).
    return list(quantifier.results)
