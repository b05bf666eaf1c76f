"""The person-level bootstrap of a real-depth comparison (training/median_gap.py)."""

from __future__ import annotations

import numpy as np
import pytest

from facedepth.training.median_gap import format_gaps, median_gaps, weighted_medians


def _rows(a: list[float], b: list[float], subjects: list[str], poses: list[str]) -> list[dict]:
    return [{"stem": f"s{i}", "subject": s, "pose": p, "gen": {"rmse": x}, "fit": {"rmse": y}}
            for i, (x, y, s, p) in enumerate(zip(a, b, subjects, poses, strict=True))]


def test_weighted_medians_equal_the_median_of_the_repeated_values():
    rng = np.random.default_rng(1)
    values = rng.normal(size=9)
    weights = rng.integers(0, 4, size=(200, 9))
    weights[weights.sum(axis=1) == 0, 0] = 1
    expected = [np.median(np.repeat(values, w)) for w in weights]
    assert np.allclose(weighted_medians(values, weights), expected)


def test_a_constant_gap_is_certain_and_an_identical_method_never_worse():
    rng = np.random.default_rng(2)
    b = list(rng.uniform(5, 15, 12))
    subjects = [f"p{i // 3}" for i in range(12)]
    poses = ["front"] * 8 + ["up"] * 4
    worse = median_gaps(_rows([x + 1.0 for x in b], b, subjects, poses), "gen", "fit", draws=500)
    assert worse["gap_mm"] == pytest.approx(1.0) and worse["low_mm"] == pytest.approx(1.0)
    assert worse["high_mm"] == pytest.approx(1.0) and worse["worse_share"] == 1.0
    assert set(worse["poses"]) == {"front", "up"} and worse["poses"]["up"]["samples"] == 4
    assert worse["people"] == 4 and worse["poses"]["up"]["people"] == 2
    same = median_gaps(_rows(b, b, subjects, poses), "gen", "fit", draws=500)
    assert same["gap_mm"] == 0 and same["worse_share"] == 0.0


def test_people_are_resampled_together():
    """Two people, one far better, one far worse: a draw holds both people's captures (the medians' gap is
    +0.5 mm) or one person twice (-9 or +10), so 3/4 of the draws are worse; drawing captures one by one would make
    it about 3/5 and almost never give the extremes."""
    a = [1.0] * 10 + [20.0] * 10
    b = [10.0] * 20
    rows = _rows(a, b, ["good"] * 10 + ["bad"] * 10, ["front"] * 20)
    gaps = median_gaps(rows, "gen", "fit", draws=4000, seed=3)
    assert gaps["gap_mm"] == pytest.approx(0.5) and 0.7 < gaps["worse_share"] < 0.8
    assert gaps["low_mm"] == pytest.approx(-9.0) and gaps["high_mm"] == pytest.approx(10.0)


def test_the_same_seed_gives_the_same_interval_and_the_text_names_every_pose():
    rng = np.random.default_rng(4)
    rows = _rows(list(rng.uniform(5, 15, 30)), list(rng.uniform(5, 15, 30)), [f"p{i % 7}" for i in range(30)],
                 ["front", "up", "down"] * 10)
    assert median_gaps(rows, "gen", "fit", draws=300, seed=5) == median_gaps(rows, "gen", "fit", draws=300, seed=5)
    text = format_gaps({"fit": median_gaps(rows, "gen", "fit", draws=300)}, "gen")
    assert "vs fit" in text and all(f"{pose} (10, " in text for pose in ("front", "up", "down"))
