"""The small statistics insights need, in pure Python (NumPy and SciPy are not dependencies).

The unit of analysis is the user, because users (not requests) are what the holdout
randomizes: one heavy user's hundred exchanges are one observation, not a hundred, so a lift
cannot be manufactured by a few chatty users and the interval is not falsely narrow.

- ``welch``: the difference of two means with a 95% interval from Welch's unequal-variance
  standard error and Welch-Satterthwaite degrees of freedom. The t quantile comes from the
  Cornish-Fisher expansion around the normal quantile (Abramowitz & Stegun 26.7.5), within
  0.01 of the exact value from 3 degrees of freedom up; we never report below 2 users per arm.
- ``users_needed``: how many users a two-arm test with the given split needs to detect a
  difference ``delta`` (two-sided alpha 0.05, power 0.8), by the normal approximation.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

_NORMAL = statistics.NormalDist()
CONFIDENCE = 0.95
POWER = 0.8


@dataclass(frozen=True)
class Difference:
    """``b - a`` with its 95% confidence interval."""

    diff: float
    low: float
    high: float
    se: float
    df: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0


def mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile by linear interpolation between order statistics (q in [0, 1])."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile, Cornish-Fisher expansion of the normal quantile in 1/df."""
    z = _NORMAL.inv_cdf(p)
    if math.isinf(df):
        return z
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def welch(a: list[float], b: list[float]) -> Difference | None:
    """``mean(b) - mean(a)`` with a 95% Welch interval; None with fewer than 2 values a side."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = statistics.fmean(b) - statistics.fmean(a)
    se = math.sqrt(va + vb)
    if se == 0.0:
        return Difference(diff, diff, diff, 0.0, math.inf)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = t_quantile(0.5 + CONFIDENCE / 2, max(df, 1.0)) * se
    return Difference(diff, diff - half, diff + half, se, df)


def users_needed(sd: float, delta: float, control_share: float) -> int:
    """Total users for a test with ``control_share`` in control to detect ``delta``.

    n = (z_{1-alpha/2} + z_power)^2 * sd^2 * (1/c + 1/(1-c)) / delta^2, which for an even
    split is the textbook 4 * 7.85 * sd^2 / delta^2; a 10% holdout needs about 2.8 times that.
    """
    share = min(max(control_share, 0.01), 0.99)
    z = _NORMAL.inv_cdf(0.5 + CONFIDENCE / 2) + _NORMAL.inv_cdf(POWER)
    return math.ceil(z**2 * sd**2 * (1 / share + 1 / (1 - share)) / delta**2)
