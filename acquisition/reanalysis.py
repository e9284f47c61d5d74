"""Reanalyse a recorded session: replay its stream through the analysis core.

The original file is only read. With ``out``, a new session is written holding
the same signal blocks, injections and events in the same order, the pump,
fraction and audit rows, and the new method's results.
"""

from __future__ import annotations

from pathlib import Path

from raphe.acquisition.analysis.live import LiveQuantifier
from raphe.acquisition.analysis.method import AnalysisMethod, load_method, parse_method
from raphe.acquisition.reader import SessionReader
from raphe.acquisition.replay import Replay
from raphe.acquisition.session import Session
from raphe.errors import InputError
from raphe.records import SampleResult


def _to_session(session: Session):
    """A stream callback handing each replayed item to the new session (which passes it
    on to its subscribers)."""
    add = {"blocks": session.add_block, "injections": session.add_injection,
           "events": session.add_event}
    return lambda kind, record: add[kind](record)


def session_method(reader: SessionReader, path: Path, method: str | None) -> AnalysisMethod:
    """The method given by name or path, else the one stored in the session."""
    if method:
        return load_method(method)
    text = reader.metadata.get("method_toml", "")
    if not text.strip():
        raise InputError(f"{path} stores no analysis method; give one with --method")
    return parse_method(text, source=f"{path}:/analysis/method")


def reanalyse(path: str | Path, method: str | None = None, out: str | Path | None = None,
              speed: float | None = None) -> list[SampleResult]:
    """Quantify every injection of the session at ``path``; optionally write ``out``."""
    path = Path(path)
    if out is not None:
        out = Path(out)
        if out.exists() or out.resolve() == path.resolve():
            raise InputError(f"{out} already exists; a session is never overwritten")
    with SessionReader(path) as reader:
        analysis = session_method(reader, path, method)
        results: list[SampleResult] = []
        session = None
        if out is not None:
            meta = reader.metadata
            session = Session.create(
                out, operator=meta.get("operator", ""), animal_id=meta.get("animal_id", ""),
                notes=meta.get("notes", ""), rig=meta.get("rig"),
                protocol=meta.get("protocol") if meta.get("protocol", {}).get("source") else None,
                method_toml=analysis.text, signal_dt=meta["signal"]["dt"],
                scale_nA_per_V=meta["signal"]["scale_nA_per_V"],
            )

        def on_result(result: SampleResult) -> None:
            results.append(result)
            if session is not None:
                session.add_result(result)

        def on_calibration(t: float, analyte: str, fit: dict) -> None:
            if session is not None:
                session.add_calibration(t, analyte, fit)

        quantifier = LiveQuantifier(analysis, on_result=on_result,
                                    on_calibration=on_calibration)
        try:
            if session is None:
                Replay(reader, speed=speed).run(quantifier.feed)
                quantifier.finish()
            else:
                analysis_feed = session.subscribe(quantifier.feed, name="analysis")
                Replay(reader, speed=speed).run(_to_session(session))
                analysis_feed.call(quantifier.finish)
                session.unsubscribe(analysis_feed)
            if session is not None:
                for row in reader.pump():
                    session.add_pump_state(row)
                for row in reader.fractions():
                    session.add_fraction(row)
                for row in reader.audit():
                    session.add_audit(row.get("who", ""), row.get("what", ""),
                                      row.get("previous", ""), row.get("t", float("nan")))
                session.add_audit("raphe replay", f"reanalysed {path.name} with method "
                                  f"{analysis.name!r}", "")
        finally:
            if session is not None:
                session.close()
    return results
