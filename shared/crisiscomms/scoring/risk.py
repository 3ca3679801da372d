"""Risk: how urgently the communications desk should look at a post (0..100).

    c     = 1 - exp(-crisis_weight / 1.5)              crisis signal, 0..1 (saturating)
    n     = max(0, -sentiment)                          negativity, 0..1 (of polarity for reputation)
    harm  = c * (0.5 + 0.5 * n) + 0.35 * n * (1 - c)    0..1
    r     = min(1, log10(1 + followers) / 6)            reach: 1M followers = full
    e     = min(1, log10(1 + engagement) / 4)           engagement: 10k interactions = full
    amp   = 0.4 + 0.4 * r + 0.2 * e                     0.4..1
    risk  = round(100 * harm * amp)                     clamped to 0..100

Consequences: a post with no crisis terms and neutral/positive sentiment scores 0 however
viral it is; a positive post that mentions a crisis term (an "outage resolved" thank-you)
gets at most half the harm of a negative one; a lone negative crisis post from a tiny
account lands in the 20s-30s (moderate); the same post from a 1M-follower account
with 10k interactions scores two and a half times that.  Every term is non-decreasing
in crisis weight, negativity, followers and engagement, so risk is monotonic in each.
"""
from __future__ import annotations

import math

RISK_FORMULA = (
    "c = 1 - exp(-crisis_weight / 1.5); "
    "n = max(0, -sentiment); "
    "harm = c * (0.5 + 0.5 * n) + 0.35 * n * (1 - c); "
    "r = min(1, log10(1 + followers) / 6); "
    "e = min(1, log10(1 + engagement) / 4); "
    "amp = 0.4 + 0.4 * r + 0.2 * e; "
    "risk = round(100 * harm * amp), clamped to 0..100; "
    "crisis_weight counts 0.3x in a post that is not negative and reports a fix"
)


def risk_formula() -> str:
    """The formula behind ``Score.risk``, as quoted in the README."""
    return RISK_FORMULA


def compute_risk(crisis_weight: float, sentiment: float, followers: int, engagement: int) -> int:
    if not crisis_weight > 0.0 and sentiment >= 0.0:
        return 0            # c = n = 0: no harm, whatever the reach
    # max(0.0, x) and min(1.0, x) spelt out (the same values, fewer calls)
    c = 1.0 - math.exp(-(crisis_weight if crisis_weight > 0.0 else 0.0) / 1.5)
    n = -sentiment if -sentiment > 0.0 else 0.0
    if n > 1.0:
        n = 1.0
    harm = c * (0.5 + 0.5 * n) + 0.35 * n * (1.0 - c)
    r = math.log10(1 + (followers if followers > 0 else 0)) / 6.0
    e = math.log10(1 + (engagement if engagement > 0 else 0)) / 4.0
    amp = 0.4 + 0.4 * (r if r < 1.0 else 1.0) + 0.2 * (e if e < 1.0 else 1.0)
    risk = int(round(100.0 * harm * amp))
    return 0 if risk < 0 else 100 if risk > 100 else risk
