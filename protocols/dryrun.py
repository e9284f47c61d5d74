"""The dry run: the protocol script against a virtual-time rig, before anything is opened.

Shares all of :class:`~raphe.protocols.protocol_run.ProtocolRun` with the real run; only the
backend differs: no instrument, no operator (prompts answer at once), and a
clock that jumps. A 24-hour protocol is checked in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from raphe.protocols.guard import DRY_RUN_CPU_S, ScriptGuard
from raphe.protocols.parameters import ParameterError, resolve
from raphe.protocols.plan import Issue, Item, Plan, Sample
from raphe.protocols.protocol import Protocol
from raphe.protocols.protocol_run import HORIZON_S, ProtocolRun
from raphe.protocols.rig_api import ProtocolRig
from raphe.protocols.rig_spec import RigSpec


class VirtualBackend:
    """Time that jumps, instruments that always obey, an operator who always confirms."""

    def __init__(self, simulated: bool) -> None:
        self.simulated = simulated
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep_until(self, t: float) -> None:
        self.t = max(self.t, t)

    def step(self, kind: str, text: str, line: int | None, t: float) -> None:
        pass

    def event(self, kind: str, text: str, source: str = "protocol") -> float:
        return self.t

    def pump_infuse(self, rate_uL_min: float) -> None:
        pass

    def pump_stop(self) -> None:
        pass

    def collector_tube(self, tube: int) -> None:
        pass

    def collector_drain(self) -> None:
        pass

    def inject(self, label: str, kind: str, probe: tuple[float, float],
               late: Any = None) -> float:
        return self.t

    def delivered_uL(self, start: float, end: float) -> float | None:
        return None

    def fraction(self, sample: Sample) -> None:
        pass

    def load_standard(self, conc_nM: float, label: str) -> None:
        pass

    def administer(self, drug: str, dose: float, route: str, text: str) -> float:
        return self.t

    def perfusate(self, name: str, drug: str | None, conc_uM: float | None, text: str) -> float:
        return self.t

    def prompt(self, text: str) -> str:
        return ""

    def medium(self, name: str, conc_nM: float | None, text: str) -> float:
        return self.t

    def suitability(self, limits: Any, ask: bool) -> bool:
        return True


def check(protocol: Protocol, given: Mapping[str, Any], spec: RigSpec, *,
          run_length_s: float | None = None, method_name: str = "",
          drugs: Sequence[tuple[float, str]] = ()) -> Plan:
    """Dry-run ``protocol`` with parameters ``given`` on a rig like ``spec``.

    ``drugs`` are administrations outside the protocol (session time s, text), e.g. doses
    the simulated animal gets from ``--sim-dose``.
    """
    try:
        params = resolve(protocol.parameters, given, file=protocol.path,
                         lines=protocol.parameter_lines)
    except ParameterError as exc:
        plan = Plan(protocol=protocol.name, run_length_s=run_length_s)
        plan.errors.append(Issue(exc.bare, exc.file, exc.line))
        return plan
    if not run_length_s and spec.run_length_s:
        run_length_s, method_name = spec.run_length_s, f"rig file {spec.source}"
    run = ProtocolRun(protocol, params, spec, VirtualBackend(spec.animal),
              run_length_s=run_length_s, method_name=method_name, horizon_s=HORIZON_S)
    run.plan.drugs.extend(Item(t, "drug", text) for t, text in sorted(drugs))
    region = params.get("region") if hasattr(params, "get") else None
    if spec.animal and region:
        from raphe.protocols.rig_spec import simulated_region

        _, warning = simulated_region(str(region))
        if warning:
            run.plan.warnings.append(Issue(warning, protocol.path,
                                           protocol.parameter_lines.get("region")))
    plan = run.execute(ProtocolRig(run), ScriptGuard(protocol.path, cpu_s=DRY_RUN_CPU_S))
    if plan.injections and not run_length_s:
        plan.warnings.append(Issue(
            "how long a chromatogram runs is not known (no analysis method, no [rig] "
            "run_length_min in the rig file): injections are not checked against it — they "
            "may come while the previous chromatogram still runs", protocol.path))
    if not math.isfinite(plan.duration_s):
        plan.duration_s = run.t
    return plan
