"""Archive reanalysis on Dask: every session through the analysis core again, into new files.

``reanalyse_many(sources, method, out)`` replays each session with
:func:`raphe.acquisition.reanalysis.reanalyse` (the originals are only read) on a Dask
cluster — a local one by default, a lab's scheduler by address — or, with ``workers=0``, in
this process. The method is stored once in ``out`` (``method-<hash>.toml``, its
self-contained text) and every worker reads it from there; ``out`` must be visible to the
workers (a shared folder on a lab's cluster).

Each session's new file is ``out/<relative folder>/<stem>.<hash>.h5`` (its folder relative
to the common folder of the sources given), where ``<hash>`` is the first 12 hex digits of
the SHA-256 of the method text. ``out/reanalysed.jsonl`` lists every session reanalysed
(source, method hash, new file, one JSON line each, appended as they finish): a session
already listed with the same method hash, whose new file is there, is skipped — so an
interrupted run resumes by calling it again, with the same sources or any others. A new file
is written under a temporary name and renamed once complete, so a file with the final name
is always whole. A session that fails is reported and the rest go on. What changed is
summarised per session: results, concentrations and % of baseline against the original's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raphe.errors import InputError

PARTIAL = ".partial"


def method_hash(text: str) -> str:
    """The short hash of a method's text that names its reanalysed files."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass
class Job:
    source: Path
    target: Path


@dataclass
class Outcome:
    """What happened to one session."""

    source: str
    target: str
    status: str  # "done", "skipped", "failed"
    seconds: float = 0.0
    error: str = ""
    changes: dict[str, Any] = field(default_factory=dict)


MANIFEST = "reanalysed.jsonl"


def done_before(out: Path) -> dict[tuple[str, str], Path]:
    """(source, method hash) → new file, of every session ``out``'s manifest lists."""
    path = out / MANIFEST
    found: dict[tuple[str, str], Path] = {}
    if not path.exists():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            found[(row["source"], row["method"])] = out / row["target"]
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a crash
    return found


def plan(sources: list[Path], out: Path, digest: str) -> tuple[list[Job], list[Job]]:
    """(to do, already done): the new file of each session — its folder relative to the
    sources' common folder, under ``out`` — or the one the manifest lists for it."""
    if not sources:
        return [], []
    before = done_before(out)
    parents = [p.resolve().parent for p in sources]
    root = Path(os.path.commonpath([str(p) for p in parents]))
    todo, done, taken = [], [], set(before.values())
    for src, parent in zip(sources, parents):
        listed = before.get((str(src.resolve()), digest))
        if listed is not None and listed.exists():
            done.append(Job(src, listed))
            continue
        target = out / parent.relative_to(root) / f"{src.stem}.{digest}.h5"
        k = 1
        while target in taken or target.exists():  # another source's, from another run
            k += 1
            target = out / parent.relative_to(root) / f"{src.stem}.{digest}-{k}.h5"
        taken.add(target)
        todo.append(Job(src, target))
    return todo, done


def _results(path: Path) -> dict[tuple[str, str], Any]:
    from raphe.acquisition.reader import SessionReader

    with SessionReader(path) as r:
        return {(x.sample_id, x.analyte): x for x in r.results()}


def compare(old: dict, new: dict) -> dict[str, Any]:
    """What changed between two sessions' results (keyed by sample and analyte)."""
    both = old.keys() & new.keys()

    def changed(a: float, b: float) -> bool:
        if math.isnan(a) and math.isnan(b):
            return False
        if math.isnan(a) or math.isnan(b):
            return True
        return abs(a - b) > 1e-9 * max(abs(a), abs(b), 1e-12)

    conc = [k for k in both if changed(old[k].conc_nM, new[k].conc_nM)]
    flags = [k for k in both if old[k].flags != new[k].flags]
    dpct = [abs(new[k].pct_baseline - old[k].pct_baseline) for k in both
            if math.isfinite(new[k].pct_baseline) and math.isfinite(old[k].pct_baseline)]
    found = [k for k in both if math.isnan(old[k].rt_s) and not math.isnan(new[k].rt_s)]
    lost = [k for k in both if not math.isnan(old[k].rt_s) and math.isnan(new[k].rt_s)]
    return {"results_before": len(old), "results_after": len(new),
            "only_before": len(old.keys() - new.keys()), "only_after": len(new.keys() - old.keys()),
            "concentration_changed": len(conc), "flags_changed": len(flags),
            "peaks_found": len(found), "peaks_lost": len(lost),
            "max_pct_baseline_change": max(dpct) if dpct else 0.0}


def reanalyse_one(source: str, method_path: str, target: str) -> dict[str, Any]:
    """Reanalyse one session into ``target`` (a task: runs on a worker). Never raises: a
    failure is returned as ``status = "failed"`` with the error."""
    from raphe.acquisition.reanalysis import reanalyse

    t0 = time.perf_counter()
    src, final = Path(source), Path(target)
    partial = final.with_name(final.name + PARTIAL)
    try:
        if final.exists():
            return {"source": source, "target": target, "status": "skipped", "seconds": 0.0}
        final.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)  # ours, left by an interrupted run
        reanalyse(src, method_path, partial, on_warning=lambda _text: None)
        if final.exists():  # another run finished it meanwhile: keep that one
            partial.unlink()
        else:
            os.replace(partial, final)
        changes = compare(_results(src), _results(final))
        return {"source": source, "target": target, "status": "done",
                "seconds": time.perf_counter() - t0, "changes": changes}
    except BaseException as exc:
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass
        if isinstance(exc, KeyboardInterrupt):
            raise
        from raphe.errors import RapheError

        return {"source": source, "target": target, "status": "failed",
                "seconds": time.perf_counter() - t0,
                "error": str(exc) if isinstance(exc, RapheError)
                else f"{type(exc).__name__}: {exc}"}


def prepare(method: str, out: Path) -> tuple[Path, str]:
    """Store the method's self-contained text in ``out`` once; (its path, its hash)."""
    from raphe.acquisition.analysis.method import load_method

    analysis = load_method(method)
    text = analysis.text
    digest = method_hash(text)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"method-{digest}.toml"
    if path.exists():
        if path.read_text(encoding="utf-8") != text:
            raise InputError(f"{path}: exists with other content (never overwritten)")
    else:
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(text)
    return path, digest


def reanalyse_many(sources: list[Path], method: str, out: str | Path, *,
                   scheduler: str | None = None, workers: int | None = None,
                   progress: Callable[[int, int, Outcome], None] | None = None
                   ) -> list[Outcome]:
    """Reanalyse ``sources`` with ``method`` into ``out`` (see the module docstring).

    ``scheduler``: a Dask scheduler's address (``tcp://host:8786``); None starts a local
    cluster of ``workers`` processes (default: one per core); ``workers=0`` runs every
    session in this process, without Dask. ``progress(done, total, outcome)`` is called as
    each session finishes (skipped ones first).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: folder {out.parent} does not exist")
    for src in sources:
        if src.resolve().is_relative_to(out.resolve()):
            raise InputError(f"reanalyse: {src} is inside --out {out}; reanalyse an archive "
                             "into a folder of its own")
    method_path, digest = prepare(method, out)
    todo, skipped = plan(sources, out, digest)
    total = len(todo) + len(skipped)
    outcomes: list[Outcome] = []
    for job in skipped:
        outcomes.append(Outcome(str(job.source), str(job.target), "skipped"))
        if progress:
            progress(len(outcomes), total, outcomes[-1])
    manifest = out / MANIFEST

    def record(result: dict) -> None:
        outcome = Outcome(**result)
        outcomes.append(outcome)
        if outcome.status == "done":
            row = {"source": str(Path(outcome.source).resolve()), "method": digest,
                   "target": Path(outcome.target).relative_to(out).as_posix(),
                   "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            with open(manifest, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
        if progress:
            progress(len(outcomes), total, outcome)

    if not todo:
        return outcomes
    if workers == 0 and scheduler is None:
        for job in todo:
            record(reanalyse_one(str(job.source), str(method_path), str(job.target)))
        return outcomes
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                   threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(f"--scheduler {scheduler}: cannot reach it ({exc})") from None
        with client:
            futures = client.map(reanalyse_one, [str(j.source) for j in todo],
                                 [str(method_path)] * len(todo), [str(j.target) for j in todo],
                                 pure=False)
            by_future = {f.key: j for f, j in zip(futures, todo)}
            for future in as_completed(futures):
                job = by_future[future.key]
                try:
                    record(future.result())
                except Exception as exc:  # noqa: BLE001 - a worker died: that session failed
                    record({"source": str(job.source), "target": str(job.target),
                            "status": "failed", "error": f"{type(exc).__name__}: {exc}"})
    finally:
        if cluster is not None:
            cluster.close()
    return outcomes


def totals(outcomes: list[Outcome]) -> dict[str, Any]:
    """Counts by status and the changes added up over the sessions reanalysed now."""
    done = [o for o in outcomes if o.status == "done"]
    keys = ("results_before", "results_after", "concentration_changed", "flags_changed",
            "peaks_found", "peaks_lost")
    out: dict[str, Any] = {s: sum(1 for o in outcomes if o.status == s)
                           for s in ("done", "skipped", "failed")}
    out["sessions"] = len(outcomes)
    out.update({k: sum(o.changes.get(k, 0) for o in done) for k in keys})
    out["max_pct_baseline_change"] = max((o.changes.get("max_pct_baseline_change", 0.0)
                                          for o in done), default=0.0)
    out["sessions_changed"] = sum(1 for o in done if o.changes.get("concentration_changed")
                                  or o.changes.get("flags_changed"))
    return out
