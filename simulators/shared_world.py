"""Several virtual animals on one simulated HPLC, behind a stream selector.

Each animal is a whole :class:`~raphe.simulators.world.SimulatedWorld` of its own — its
basal level and variability (its own seed), its region, its drugs, its pump's flow — and
all of them share one HPLC-ECD. The stream selector decides whose dialysate reaches the
loop: at an injection, the loop holds the selected animal's outflow since the selector
reached its port, topped up (when that is less than a loop) with the stream selected
before. The DMM reads the one HPLC.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from typing import Any

from raphe.simulators.fluidics import SampleContent
from raphe.simulators.world import SimulatedWorld, _position


class SelectedLoop:
    """One animal's fluid path as the loop sees it behind the selector: its
    ``loop_content`` mixes in the previous stream when its own has not filled the loop;
    everything else is the animal's own fluid path."""

    def __init__(self, own: Any, index: int, shared: SharedWorld) -> None:
        self._own = own
        self._index = index
        self._shared = shared

    def __getattr__(self, name: str) -> Any:
        return getattr(self._own, name)

    def loop_content(self, t_inject: float, loop_volume_uL: float) -> SampleContent:
        since, previous = self._shared.selected_since(self._index, t_inject)
        own = self._own.tube_content(since, t_inject) if since < t_inject else None
        if own is None or own.volume_uL >= loop_volume_uL or previous is None:
            return self._own.loop_content(t_inject, loop_volume_uL)
        rest = loop_volume_uL - own.volume_uL
        other = self._shared.subjects[previous].fluidics._own.loop_content(since, rest)
        amounts = {name: own.amount_fmol.get(name, 0.0) + other.amount_fmol.get(name, 0.0)
                   for name in set(own.amount_fmol) | set(other.amount_fmol)}
        conc = {name: amount / loop_volume_uL for name, amount in amounts.items()}  # fmol/µL = nM
        return SampleContent(t_start=other.t_start, t_end=t_inject, volume_uL=loop_volume_uL,
                             conc_nM=conc, amount_fmol=amounts,
                             probe_t_start=own.probe_t_start, probe_t_end=own.probe_t_end)


class SharedWorld:
    """The animals (``subjects``, one per selector port 1 … N) and their one HPLC."""

    def __init__(self, subjects: Sequence[SimulatedWorld],
                 selector_position: Callable[[], int]) -> None:
        if not subjects:
            raise ValueError("a shared world needs at least one animal")
        self.subjects = list(subjects)
        self.hplc = self.subjects[0].hplc
        for k, subject in enumerate(self.subjects):
            subject.hplc = self.hplc  # one column, one detector
            subject.fluidics = SelectedLoop(subject.fluidics, k, self)
        self._selector_position = selector_position
        self._lock = threading.Lock()
        self.valve_position = "load"
        #: (clock time, subject index or None for a port no animal is on) of each move
        self._moves: list[tuple[float, int | None]] = [(0.0, 0)]

    @property
    def ground_truth(self) -> list:
        """Every injection of every animal, in time order (its animal in ``sample_id``)."""
        return sorted((g for s in self.subjects for g in s.ground_truth),
                      key=lambda g: g.t_inject)

    def subject(self, k: int) -> SimulatedWorld:
        return self.subjects[k]

    # -- the selector --------------------------------------------------------------------

    def on_selector(self, position: int, t: float) -> None:
        """Selector listener: a move to ``position`` (port 1 … N) ended at ``t``."""
        index = position - 1 if 1 <= position <= len(self.subjects) else None
        with self._lock:
            self._moves.append((float(t), index))
            self._moves.sort(key=lambda m: m[0])

    def selected_since(self, index: int, t: float) -> tuple[float, int | None]:
        """Since when (before ``t``) the selector has pointed at animal ``index``, and the
        animal selected before that (None: none)."""
        with self._lock:
            moves = list(self._moves)
        i = bisect.bisect_right([m[0] for m in moves], t) - 1
        if i < 0 or moves[i][1] != index:
            return t, None
        previous = moves[i - 1][1] if i > 0 else None
        return moves[i][0], previous

    def _selected(self, t: float) -> int | None:
        self._selector_position()  # brings the selector's motion (and its moves) up to now
        with self._lock:
            moves = list(self._moves)
        i = bisect.bisect_right([m[0] for m in moves], t) - 1
        return moves[i][1] if i >= 0 else None

    # -- instrument listeners ------------------------------------------------------------

    def on_valve(self, position: object, t: float, sample_id: str = "") -> Any:
        """Valve listener: a LOAD → INJECT switch at ``t`` injects what the selected
        animal's stream put in the loop (a port without an animal: blank perfusate)."""
        new = _position(position)
        with self._lock:
            old, self.valve_position = self.valve_position, new
        if not (old == "load" and new == "inject"):
            return None
        index = self._selected(float(t))
        if index is None:
            return self.hplc.inject(float(t), {}, label=sample_id or "blank")
        subject = self.subjects[index]
        subject.valve_position = "load"
        return subject.on_valve(position, float(t), sample_id)

    def volts(self, t: Any) -> Any:
        """ECD analog output (V): the DMM simulator's ``SignalSource``."""
        return self.hplc.volts(t)

    def nA(self, t: Any) -> Any:
        return self.hplc.nA(t)

    def note(self, record: dict) -> None:
        for subject in self.subjects:
            subject.note(record)

    def close(self) -> None:
        for subject in self.subjects:
            subject.close()

