"""The one injectable clock: real time, or real time scaled by ``speed``.

Session time is seconds (float) from a monotonic source. The simulated rig,
the recorder and the protocol engine all read and wait on the same clock, so
``speed=120`` plays a six-hour experiment in three minutes.
"""

from __future__ import annotations

import threading
import time

#: The speeds a simulated rig supports: slower, and nothing would seem to happen (a wait of
#: minutes would take days); faster, and the simulated DMM (10 Hz × speed readings per second)
#: outruns its link.
MIN_SPEED = 0.1
MAX_SPEED = 1000.0


class Clock:
    """Monotonic clock in (possibly scaled) seconds since ``start``."""

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError(f"clock speed must be > 0, got {speed!r}")
        self.speed = float(speed)
        self._t0 = time.monotonic()
        self.wall_start = time.time()

    def shifted(self, t0: float) -> Clock:
        """The same clock with its zero moved to ``t0`` (e.g. session time 0 = recording start)."""
        other = Clock.__new__(Clock)
        other.speed = self.speed
        other._t0 = self._t0 + t0 / self.speed
        other.wall_start = self.wall_start + t0 / self.speed
        return other

    def now(self) -> float:
        """Seconds of (scaled) time since the clock was created."""
        return (time.monotonic() - self._t0) * self.speed

    def real_seconds(self, sim_seconds: float) -> float:
        """How long ``sim_seconds`` of clock time last in real time."""
        return sim_seconds / self.speed

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of clock time."""
        if seconds > 0:
            time.sleep(seconds / self.speed)

    def sleep_until(self, t: float, stop: threading.Event | None = None) -> bool:
        """Wait until clock time ``t``; returns False early if ``stop`` is set."""
        while True:
            remaining = t - self.now()
            if remaining <= 0:
                return True
            wait = min(remaining / self.speed, 0.5)
            if stop is not None:
                if stop.wait(wait):
                    return False
            else:
                time.sleep(wait)
