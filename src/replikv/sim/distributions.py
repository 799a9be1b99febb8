"""Latency distributions for simulated links and disks.

What may live here: frozen msgspec structs (tagged by ``dist``) that describe a
distribution, and ``sample(rng)``. Randomness always comes from a ``random.Random``
stream the caller owns, so one knob never shifts another stream's choices.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    import random


class _Dist(msgspec.Struct, frozen=True, tag_field="dist", forbid_unknown_fields=True):
    def sample(self, rng: random.Random) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def mean(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


class Constant(_Dist, frozen=True, tag="constant"):
    """Always ``ms``: no jitter, so a link delivers in send order."""

    ms: float = 1.0

    def sample(self, rng: random.Random) -> float:
        return self.ms

    def mean(self) -> float:
        return self.ms


class Uniform(_Dist, frozen=True, tag="uniform"):
    """Uniform in ``[min, max]``; jitter reorders messages on a link."""

    min: float = 0.5
    max: float = 1.5

    def sample(self, rng: random.Random) -> float:
        return self.min + (self.max - self.min) * rng.random()

    def mean(self) -> float:
        return (self.min + self.max) / 2


class Normal(_Dist, frozen=True, tag="normal"):
    """Gaussian ``(mean, stddev)`` clipped below at ``min``."""

    mean_ms: float = 1.0
    stddev: float = 0.2
    min: float = 0.0

    def sample(self, rng: random.Random) -> float:
        return max(self.min, rng.gauss(self.mean_ms, self.stddev))

    def mean(self) -> float:
        return max(self.min, self.mean_ms)


class LogNormal(_Dist, frozen=True, tag="lognormal"):
    """Long tail: ``median * exp(sigma * N(0, 1))``, optionally capped at ``max``."""

    median: float = 1.0
    sigma: float = 0.5
    max: float = 10_000.0

    def sample(self, rng: random.Random) -> float:
        return min(self.max, self.median * math.exp(self.sigma * rng.gauss(0.0, 1.0)))

    def mean(self) -> float:
        return self.median * math.exp(self.sigma * self.sigma / 2)


Distribution = Constant | Uniform | Normal | LogNormal


def validate(dist: Distribution, where: str) -> None:
    """Reject distributions that could produce negative or nonsensical times."""
    bad = None
    match dist:
        case Constant(ms=ms) if ms < 0:
            bad = "ms must be >= 0"
        case Uniform(min=lo, max=hi) if lo < 0 or hi < lo:
            bad = "need 0 <= min <= max"
        case Normal(stddev=sd, min=lo) if sd < 0 or lo < 0:
            bad = "need stddev >= 0 and min >= 0"
        case LogNormal(median=m, sigma=s, max=hi) if m <= 0 or s < 0 or hi <= 0:
            bad = "need median > 0, sigma >= 0, max > 0"
    if bad:
        raise ValueError(f"{where}: {bad}")
