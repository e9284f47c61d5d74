"""The simulated world the instrument simulators share.

One virtual animal perfused by the pump (its ``flow_uL_min(t)`` history), one
fluid path to the collector and the valve loop, one HPLC-ECD. A perfusate switch
(reverse dialysis on or off) reaches the probe after the inlet tubing's dead volume,
as a sample reaches the outlet after the outlet's. The valve
simulator calls ``on_valve`` when it switches; the DMM simulator reads
``volts(t)``; the collector simulator may call ``on_fraction``. The model's
truth for every injection and tube (what the loop or tube really held) is
kept in ``ground_truth`` / ``fractions`` and optionally appended to a
JSON-lines log, never written into the session, so tests can score the
analysis against it.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO

import numpy as np

from raphe.simulators.animal import AnimalParams, VirtualAnimal
from raphe.simulators.drugs import Dose, Regimen
from raphe.simulators.fluidics import FlowFunction, Fluidics, SampleContent
from raphe.simulators.hplc import HPLCECD, HPLCParams

_INJECT = {"inject", "b", "valveposition.inject"}
_LOAD = {"load", "a", "valveposition.load"}


@dataclass(frozen=True)
class GroundTruth:
    """What one injection really put on the column (5-HT unless a mapping).

    ``nM``/``conc_nM`` is what the loop held; ``fmol``/``amount_fmol`` what went on the
    column: the loop's amount times ``volume_factor``, the injected over the nominal
    volume (the simulated injection precision, ``HPLCParams.injection_cv``).
    """

    index: int
    t_inject: float
    kind: str
    sample_id: str
    loop_volume_uL: float
    nM: float
    fmol: float
    conc_nM: dict[str, float]
    amount_fmol: dict[str, float]
    #: When the loop's fluid left the probe (NaN for standards or blank perfusate).
    probe_t_start: float
    probe_t_end: float
    volume_factor: float = 1.0


@dataclass(frozen=True)
class FractionTruth:
    """What one collector tube really holds."""

    tube: int
    t_start: float
    t_end: float
    volume_uL: float
    nM: float
    fmol: float
    probe_t_start: float
    probe_t_end: float


def _position(position: object) -> str:
    text = str(getattr(position, "value", position)).strip().lower()
    if text in _INJECT:
        return "inject"
    if text in _LOAD:
        return "load"
    raise ValueError(f"unknown valve position {position!r} (expected load/A or inject/B)")


class SimulatedWorld:
    """Animal + fluidics + HPLC-ECD behind the simulated rig; deterministic for ``seed``."""

    def __init__(
        self,
        flow_uL_min: FlowFunction,
        region: str = "prefrontal_cortex",
        seed: int = 0,
        loop_volume_uL: float = 20.0,
        dead_volume_uL: float = 5.0,
        animal_params: AnimalParams | None = None,
        hplc_params: HPLCParams | None = None,
        clean: bool = False,
        log_path: str | Path | None = None,
        history: Iterable[Regimen] = (),
        inlet_dead_volume_uL: float = 5.0,
    ) -> None:
        if not loop_volume_uL > 0:
            raise ValueError(f"loop volume must be > 0 µL, got {loop_volume_uL}")
        if not (math.isfinite(inlet_dead_volume_uL) and inlet_dead_volume_uL >= 0):
            raise ValueError(f"inlet dead volume must be >= 0 µL, got {inlet_dead_volume_uL}")
        #: Volume of the inlet tubing from the syringe to the probe (µL): a perfusate switch
        #: (reverse dialysis on or off) reaches the probe once the pump has pushed this much.
        self.inlet_dead_volume_uL = float(inlet_dead_volume_uL)
        self.region = region
        self.seed = int(seed)
        self.loop_volume_uL = float(loop_volume_uL)
        self.animal = VirtualAnimal(region=region, seed=seed, params=animal_params,
                                    history=history)
        #: in vitro spans: (session s the probe went into a solution, its 5-HT nM or None for
        #: back in the animal)
        self._media: list[tuple[float, float | None]] = []
        self.fluidics = Fluidics(self._dialysate_nM, flow_uL_min, dead_volume_uL)
        hp = hplc_params or HPLCParams()
        if clean:
            hp = replace(hp, clean=True)
        self.hplc = HPLCECD(hp, seed=seed)
        self.ground_truth: list[GroundTruth] = []
        self.fractions: list[FractionTruth] = []
        self.valve_position = "load"
        self._pending_standard: dict[str, float] | None = None
        self._lock = threading.Lock()
        self._log: IO[str] | None = None
        if log_path is not None:
            self._log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        for regimen in self.animal.history:
            self._write({"event": "history", "regimen": regimen.spec(),
                         "desensitisation": self.animal.desensitisation})

    # -- the operator ---------------------------------------------------------
    def administer(self, dose: Dose, t: float | None = None) -> None:
        """Give ``dose`` at its own minute, or at session time ``t`` (s) if given.

        Systemic doses (ip/sc) are mg/kg; reverse dialysis (``rd``) is the perfusate µM,
        acting at the probe until ``dose.until_minute`` (session minutes; None = to the end).
        """
        if t is not None:
            dose = replace(dose, minute=t / 60.0)
        given = dose
        if dose.route == "rd":  # the new perfusate first fills the inlet tubing
            arrives = self.perfusate_arrival(dose.time_s)
            if not math.isfinite(arrives):
                self._write({"event": "dose", "t": dose.time_s, "dose": dose.spec(),
                             "arrives": None})
                return
            until = None if dose.until_minute is None else \
                self.perfusate_arrival(dose.until_s) / 60.0
            dose = replace(dose, minute=arrives / 60.0, until_minute=until)
        with self._lock:
            self.animal.administer(dose)
        row = {"event": "dose", "t": given.time_s, "dose": given.spec()}
        if given is not dose:
            row["arrives"] = dose.time_s
        self._write(row)

    def perfusate_arrival(self, t: float) -> float:
        """When perfusate switched at the syringe at ``t`` (s) reaches the probe: once the pump
        has pushed the inlet dead volume (from the flow known at ``t``: the pump's rate from
        then on); inf if the pump does not push it within 24 h."""
        dead = self.inlet_dead_volume_uL
        if dead <= 0:
            return float(t)
        step, horizon = 2.0, 24 * 3600.0
        grid = float(t) + np.arange(0.0, horizon + step, step)
        q = np.maximum(self.fluidics.flows(grid), 0.0)
        volume = np.concatenate([[0.0], np.cumsum(q[:-1] * step / 60.0)])
        i = int(np.searchsorted(volume, dead))
        if i >= len(volume):
            return math.inf
        if i == 0:
            return float(grid[0])
        dv = volume[i] - volume[i - 1]
        return float(grid[i - 1] + step * (dead - volume[i - 1]) / dv)

    def set_probe_medium(self, conc_nM: float | None, t: float) -> None:
        """From session time ``t`` (s) the probe sits in a stirred solution of ``conc_nM`` nM
        5-HT (in vitro; ``None``: back in the animal). The dialysate then holds the
        solution's 5-HT times the probe's recovery at the flow, and no other analyte."""
        if conc_nM is not None and not (math.isfinite(conc_nM) and conc_nM >= 0):
            raise ValueError(f"medium concentration must be >= 0 nM, got {conc_nM}")
        with self._lock:
            self._media.append((float(t), None if conc_nM is None else float(conc_nM)))
            self._media.sort(key=lambda m: m[0])
        self._write({"event": "probe_medium", "t": float(t), "nM": conc_nM})

    def _dialysate_nM(self, t, flow_uL_min) -> dict[str, np.ndarray]:
        """What leaves the probe: the animal's dialysate, or the solution's in vitro."""
        out = self.animal.dialysate_all_nM(t, flow_uL_min)
        if not self._media:
            return out
        t = np.asarray(t, dtype=float)
        conc = np.full(t.shape, np.nan)
        for start, medium in self._media:
            conc = np.where(t >= start, np.nan if medium is None else medium, conc)
        in_vitro = np.isfinite(conc)
        if not in_vitro.any():
            return out
        recovery = self.animal.recovery(flow_uL_min) * np.ones_like(t)
        for name in out:
            value = np.asarray(out[name], dtype=float) * np.ones_like(t)
            out[name] = np.where(in_vitro, conc * recovery if name == "5-HT" else 0.0, value)
        return out

    def end_reverse_dialysis(self, drug: str, t: float) -> None:
        """The perfusate is switched back to aCSF at session time ``t`` (s): local ``drug`` ends
        once the aCSF has filled the inlet tubing (``inlet_dead_volume_uL``)."""
        arrives = self.perfusate_arrival(float(t))
        if math.isfinite(arrives):
            with self._lock:
                self.animal.end_reverse_dialysis(drug, arrives)
        self._write({"event": "end_reverse_dialysis", "t": float(t), "drug": drug,
                     "arrives": arrives if math.isfinite(arrives) else None})

    def load_standard(self, conc_nM: float | dict[str, float]) -> None:
        """The next injection is a standard of ``conc_nM`` (5-HT, or analyte → nM)."""
        conc = {"5-HT": float(conc_nM)} if isinstance(conc_nM, (int, float)) else dict(conc_nM)
        for name, c in conc.items():
            if not (math.isfinite(c) and c >= 0):
                raise ValueError(f"standard concentration of {name} must be >= 0 nM, got {c}")
        self._pending_standard = conc

    # -- instrument listeners -----------------------------------------------
    def on_valve(self, position: object, t: float, sample_id: str = "") -> GroundTruth | None:
        """Valve listener: a LOAD → INJECT switch at ``t`` injects the loop's content."""
        new = _position(position)
        with self._lock:
            old, self.valve_position = self.valve_position, new
            if not (old == "load" and new == "inject"):
                return None
            return self._inject(float(t), sample_id)

    def on_fraction(self, tube: int, t_start: float, t_end: float) -> FractionTruth:
        """Collector listener: tube ``tube`` collected outflow from ``t_start`` to ``t_end``."""
        with self._lock:
            c = self.fluidics.tube_content(t_start, t_end)
        truth = FractionTruth(int(tube), float(t_start), float(t_end), c.volume_uL, c.nM,
                              c.fmol, c.probe_t_start, c.probe_t_end)
        self.fractions.append(truth)
        self._write({"event": "fraction", **asdict(truth)})
        return truth

    # -- the detector output -------------------------------------------------
    def nA(self, t: np.ndarray) -> np.ndarray:
        """ECD current (nA) at session times ``t``."""
        return self.hplc.nA(t)

    def volts(self, t: np.ndarray) -> np.ndarray:
        """ECD analog output (V): the DMM simulator's ``SignalSource``."""
        return self.hplc.volts(t)

    def note(self, record: dict) -> None:
        """Write one record of the caller's to the ground-truth log (e.g. the session start)."""
        self._write(record)

    def close(self) -> None:
        """Close the ground-truth log."""
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- internals ----------------------------------------------------------
    def _inject(self, t: float, sample_id: str) -> GroundTruth:
        index = len(self.ground_truth) + 1
        if self._pending_standard is not None:
            conc, self._pending_standard = self._pending_standard, None
            record = self.hplc.inject_standard(t, conc, self.loop_volume_uL, label=sample_id)
            kind, t0, t1 = record.kind, math.nan, math.nan
        else:
            content: SampleContent = self.fluidics.loop_content(t, self.loop_volume_uL)
            record = self.hplc.inject(t, content, label=sample_id)
            conc = dict(content.conc_nM)
            kind, t0, t1 = "sample", content.probe_t_start, content.probe_t_end
        amounts = dict(record.amounts_fmol)
        truth = GroundTruth(
            index=index, t_inject=t, kind=kind, sample_id=sample_id or f"#{index}",
            loop_volume_uL=self.loop_volume_uL, nM=conc.get("5-HT", 0.0),
            fmol=amounts.get("5-HT", 0.0), conc_nM=conc, amount_fmol=amounts,
            probe_t_start=t0, probe_t_end=t1, volume_factor=record.volume_factor,
        )
        self.ground_truth.append(truth)
        self._write({"event": "injection", **asdict(truth)})
        return truth

    def _write(self, row: dict) -> None:
        if self._log is None:
            return
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        self._log.write(json.dumps(clean) + "\n")
        self._log.flush()
