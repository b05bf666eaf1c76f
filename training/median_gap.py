"""How sure a real-depth comparison is: one method's median RMSE minus another's, over all samples and per head
pose, with a 95 % interval from resampling *people* (a person's captures are drawn together: they are not
independent samples) and the share of resamples in which the first method is worse.

A pose group of the dev set holds 5-19 captures of a handful of people, so a difference of medians of a few
tenths of a millimetre there is often noise; issue 12's "no worse than its teacher on any pose group" is read
with this beside it (``facedepth-train evaluate --real-depth`` prints it for the generator against every other
method).
"""

from __future__ import annotations

import numpy as np

from facedepth.training.evaluate_real_depth import POSES

DRAWS = 20_000
LEVEL = 0.95


def weighted_medians(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The median of ``values`` repeated ``weights[d]`` times, for every row d of the integer ``weights``
    (draws x samples; every row's sum > 0): what ``np.median`` gives on that multiset."""
    order = np.argsort(values)
    v, cum = values[order], np.cumsum(weights[:, order], axis=1)
    total = cum[:, -1:]
    lower = np.argmax(cum > (total - 1) // 2, axis=1)  # 0-based positions (n-1)//2 and n//2 of the multiset
    upper = np.argmax(cum > total // 2, axis=1)
    return (v[lower] + v[upper]) / 2


def _gap(rows: list[dict], method: str, other: str, draws: int, rng: np.random.Generator) -> dict:
    a = np.array([r[method]["rmse"] for r in rows])
    b = np.array([r[other]["rmse"] for r in rows])
    people, person_of = np.unique([r["subject"] for r in rows], return_inverse=True)
    picks = rng.multinomial(len(people), np.full(len(people), 1 / len(people)), size=draws)  # draws x people
    weights = picks[:, person_of]
    gaps = weighted_medians(a, weights) - weighted_medians(b, weights)
    low, high = np.quantile(gaps, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return {"samples": len(rows), "people": len(people), "gap_mm": float(np.median(a) - np.median(b)),
            "low_mm": float(low), "high_mm": float(high), "worse_share": float(np.mean(gaps > 0))}


def median_gaps(rows: list[dict], method: str, other: str, draws: int = DRAWS, seed: int = 0) -> dict:
    """``method`` against ``other`` on the per-sample rows of a real-depth report (see the module docstring):
    the gap over all samples and per pose; deterministic by ``seed``."""
    rng = np.random.default_rng(seed)
    result = _gap(rows, method, other, draws, rng)
    result["poses"] = {pose: _gap(group, method, other, draws, rng)
                       for pose in POSES if (group := [r for r in rows if r["pose"] == pose])}
    return result


def format_gaps(gaps: dict[str, dict], method: str) -> str:
    """``method``'s gap to each other method, a line per pose: the gap, its interval and the share worse."""
    lines = [f"{method} minus each method: median RMSE in mm, [{LEVEL:.0%} interval over people], "
             f"share of resamples where {method} is worse"]
    for other, g in gaps.items():
        lines.append(f"  vs {other}")
        for group, p in (("all", g), *g["poses"].items()):
            label = f"{group} ({p['samples']}, {p['people']} people)"
            lines.append(f"    {label:<26} {p['gap_mm']:+7.2f} [{p['low_mm']:+.2f}, {p['high_mm']:+.2f}] "
                         f"{p['worse_share']:>5.0%}")
    return "\n".join(lines)
