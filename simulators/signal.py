"""Input signals for simulated digitisers: what the ECD's analog output reads, in volts.

A signal source is a pure function of simulated time (s), vectorised over a
numpy array, so a simulator can generate any batch of samples at once and the
same time always gives the same value (a replay or a test can recompute it).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class SignalSource(Protocol):
    """Volts at the given simulated times (s)."""

    def volts(self, t: np.ndarray) -> np.ndarray: ...


class ConstantNoise:
    """A constant level plus white Gaussian noise, reproducible from ``seed``.

    The noise of a sample depends only on the seed and the sample's time
    (rounded to 1 µs), not on how samples are batched, so regenerating a time
    span gives identical values.
    """

    def __init__(self, volts: float = 0.0, noise_v_rms: float = 0.0, seed: int = 0) -> None:
        if noise_v_rms < 0:
            raise ValueError(f"noise_v_rms must be >= 0, got {noise_v_rms!r}")
        self.level = float(volts)
        self.noise_v_rms = float(noise_v_rms)
        self.seed = int(seed)

    def volts(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        out = np.full(t.shape, self.level)
        if self.noise_v_rms > 0 and t.size:
            keys = np.round(t * 1e6).astype(np.int64).view(np.uint64)
            u1 = _unit_uniform(keys, self.seed * 2 + 1)
            u2 = _unit_uniform(keys, self.seed * 2 + 2)
            out += self.noise_v_rms * np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        return out


def _unit_uniform(keys: np.ndarray, stream: int) -> np.ndarray:
    """Uniform (0, 1] per key: a SplitMix64 hash of (key, stream), vectorised."""
    with np.errstate(over="ignore"):
        z = keys + np.uint64((stream * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) + 1.0) / 2.0**53


class Ramp:
    """``offset + slope * t``: every sample's value identifies its time (tests, benchmarks)."""

    def __init__(self, slope_v_per_s: float = 1e-3, offset_v: float = 0.0) -> None:
        self.slope = float(slope_v_per_s)
        self.offset = float(offset_v)

    def volts(self, t: np.ndarray) -> np.ndarray:
        return self.offset + self.slope * np.asarray(t, dtype=np.float64)
