"""The Rig API a protocol script calls: ``run(rig, params)`` gets a :class:`ProtocolRig`.

Durations are minutes (or ``seconds=``/``hours=``), flows µL/min, doses
mg/kg, concentrations nM (standards) or µM (perfusates); a pint quantity or
a text such as ``"90 uL/h"`` works wherever a number does. Every call goes
through the run's one dispatch point, which checks it (naming the script's
line when it cannot be done), logs it and executes it — on the instruments in
a real run, on a virtual clock in the dry run.
"""

from __future__ import annotations

from typing import Any

from raphe.drivers.units import to_unit
from raphe.errors import InputError
from raphe.protocols.plan import Sample
from raphe.protocols.protocol_run import ProtocolRun


def _seconds(minutes: Any = 0, seconds: Any = 0, hours: Any = 0) -> float:
    """A duration in seconds from numbers (or quantities, or texts such as ``"90 s"``)."""
    total = 0.0
    for value, unit, factor in ((minutes, "min", 60.0), (seconds, "s", 1.0), (hours, "h", 3600.0)):
        if value is None or (isinstance(value, (int, float)) and value == 0):
            continue
        if isinstance(value, bool):
            raise InputError(f"a duration cannot be {value!r}")
        if isinstance(value, (int, float)):
            total += float(value) * factor
        else:
            total += to_unit(value, unit, "duration", "20 (minutes) or '20 min'") * factor
    return total


def _describe(minutes: Any = 0, seconds: Any = 0, hours: Any = 0) -> str:
    parts = [f"{v} {u}" if isinstance(v, (int, float)) else str(v)
             for v, u in ((hours, "h"), (minutes, "min"), (seconds, "s")) if v]
    return " ".join(parts) or "0 min"


class PumpAPI:
    """``rig.pump``: the perfusion pump."""

    def __init__(self, run: ProtocolRun) -> None:
        self._run = run

    def infuse(self, rate: Any = None) -> None:
        """Perfuse at ``rate`` µL/min (or the last rate set); changes the flow while running."""
        text = "infuse" if rate is None else f"infuse at {rate} µL/min"
        self._run.dispatch("pump", text, lambda: self._run.infuse(rate))

    def stop(self) -> None:
        """Stop perfusing."""
        self._run.dispatch("pump", "stop the pump", self._run.stop_pump)

    @property
    def rate(self) -> float:
        """The flow set last, µL/min (0 when stopped)."""
        return self._run.flows[-1].rate_uL_min


class ProtocolRig:
    """What ``run(rig, params)`` is given. See docs/protocols.md for every call."""

    def __init__(self, run: ProtocolRun) -> None:
        self._run = run
        self.pump = PumpAPI(run)

    @property
    def simulated(self) -> bool:
        """True on the simulated rig (a virtual animal) and in the dry run of one."""
        return self._run.backend.simulated

    @property
    def roles(self) -> frozenset[str]:
        """The instruments this rig has: some of pump, collector, valve, detector."""
        return self._run.spec.roles

    @property
    def run_length_min(self) -> float:
        """How long each chromatogram runs (the analysis method's run length), minutes."""
        return (self._run.run_length_s or 0.0) / 60.0

    @property
    def minutes(self) -> float:
        """Schedule time since the start, minutes."""
        return self._run.t / 60.0

    def wait(self, minutes: Any = 0, *, seconds: Any = 0, hours: Any = 0) -> None:
        """Let time pass (the pump keeps perfusing); pause holds it."""
        self._run.dispatch("wait", f"wait {_describe(minutes, seconds, hours)}",
                           lambda: self._run.wait(_seconds(minutes, seconds, hours)))

    def phase(self, name: str) -> None:
        """Name the phase that starts now: equilibration, baseline, drug, post-drug…"""
        self._run.dispatch("phase", f"phase {name}", lambda: self._run.set_phase(name))

    def collect(self, minutes: Any = 0, label: str | None = None, *, seconds: Any = 0,
                inject: bool | None = None, tube: bool | None = None) -> Sample:
        """One sample: a fresh tube for the whole interval and/or an injection of the loop at
        its end (both when the rig has both; choose with ``inject=``/``tube=``)."""
        return self._run.dispatch(
            "collect", f"collect {_describe(minutes, seconds)}" + (f" as {label}" if label else ""),
            lambda: self._run.collect(_seconds(minutes, seconds), label, inject, tube))

    def inject(self, label: str | None = None) -> Sample:
        """Inject the loop's content now (the dialysate that filled it)."""
        return self._run.dispatch("inject", "inject" + (f" {label}" if label else ""),
                                  lambda: self._run.inject(label))

    def suitability(self, rsd_max: float = 3.0, r2_min: float = 0.998, drift_max: float = 10.0,
                    *, ask: bool = True) -> bool:
        """System suitability of the standards injected so far (replicate area RSD %,
        calibration r², LOD/LOQ at S/N 3 and 10, drift of bracketing standards %), once
        their chromatograms have run; stored in the session. When a test fails and ``ask``,
        the run pauses and the operator continues or aborts (recorded either way). True
        when every judged test passed."""
        return self._run.dispatch(
            "suitability", f"system suitability (RSD ≤ {rsd_max:g} %, R² ≥ {r2_min:g}, "
            f"drift ≤ {drift_max:g} %)",
            lambda: self._run.suitability(rsd_max, r2_min, drift_max, ask))

    def inject_standard(self, conc_nM: Any, label: str | None = None) -> float:
        """Inject a standard of ``conc_nM`` nM (loaded by the operator, or by the simulator)."""
        return self._run.dispatch("standard", f"inject standard {conc_nM} nM",
                                  lambda: self._run.inject_standard(conc_nM, label))

    def administer(self, drug: str, dose: Any, route: str = "ip") -> float:
        """Give ``dose`` mg/kg of ``drug`` by ``route`` (ip, sc). On a real rig the operator
        is asked to inject and confirm; the moment of the confirmation is recorded."""
        return self._run.dispatch("drug", f"administer {drug} {dose} mg/kg {route}",
                                  lambda: self._run.administer(drug, dose, route))

    def switch_perfusate(self, name: str, drug: str | None = None,
                         conc_uM: Any = None) -> float:
        """Switch the perfusate (reverse dialysis of ``drug`` at ``conc_uM`` µM, or back to
        plain ``aCSF`` without a drug). The operator switches it and confirms."""
        return self._run.dispatch("perfusate", f"switch perfusate to {name}",
                                  lambda: self._run.switch_perfusate(name, drug, conc_uM))

    def refit_calibration(self) -> None:
        """Fit the calibration anew from the standards injected since the last refit; the
        analysis does it once their chromatograms have run, and stores the fit."""
        self._run.dispatch("calibration", "refit the calibration", self._run.refit_calibration)

    def probe_medium(self, name: str, conc_nM: Any = None) -> float:
        """Move the probe into ``name`` (in vitro: a standard solution of ``conc_nM`` nM 5-HT),
        or back into the animal with ``name="animal"``. The operator moves it and confirms."""
        return self._run.dispatch("medium", f"probe into {name}",
                                  lambda: self._run.probe_medium(name, conc_nM))

    def mark(self, text: str) -> None:
        """A marker in the session at this moment."""
        self._run.dispatch("mark", f"mark {text}", lambda: self._run.mark(text))

    def prompt(self, text: str) -> str:
        """Ask the operator; the script waits (acquisition does not) and gets the answer."""
        return self._run.dispatch("prompt", f"prompt {text}", lambda: self._run.prompt(text))
