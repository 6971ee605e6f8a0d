"""MCLP and LSCP (PuLP/CBC) against brute force on small instances; merging, ranking, greedy, infeasibility."""

from __future__ import annotations

import itertools
import random

import pytest

from gis_api.coverage import optimize
from gis_api.coverage.optimize import Group


def _instance(seed: int, n_cand: int = 8, n_demand: int = 30) -> list[Group]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n_demand):
        cands = [c for c in range(1, n_cand + 1) if rng.random() < 0.25]
        rows.append((cands, float(rng.randint(1, 100))))
    return optimize.aggregate(rows)


def _best_cover(groups: list[Group], k: int) -> float:
    cands = sorted({c for cs, _w in groups for c in cs})
    return max(optimize.covered_weight(combo, groups) for combo in itertools.combinations(cands, min(k, len(cands))))


def _fewest(groups: list[Group], target: float) -> int:
    cands = sorted({c for cs, _w in groups for c in cs})
    for k in range(len(cands) + 1):
        if any(optimize.covered_weight(c, groups) >= target for c in itertools.combinations(cands, k)):
            return k
    raise AssertionError("unreachable target")


def test_aggregate_merges_identical_sets_and_drops_uncoverable() -> None:
    groups = optimize.aggregate([([2, 1], 10), ([1, 2], 5), ([3], 7), ([], 100), ([4], 0)])
    assert groups == [((1, 2), 15.0), ((3,), 7.0)]


def test_mclp_hand_example() -> None:
    # Site 1 covers A(10) and B(3); site 2 covers B(3) and C(5); site 3 covers D(7).
    groups = optimize.aggregate([([1], 10), ([1, 2], 3), ([2], 5), ([3], 7)])
    one = optimize.mclp(groups, 1)
    assert one.selected == [1] and one.covered == 13 and one.optimal
    two = optimize.mclp(groups, 2)
    assert two.selected == [1, 3] and two.covered == 20 and two.optimal  # not 1+2 (18)
    assert optimize.rank(two.selected, groups) == [(1, 13.0), (3, 7.0)]


@pytest.mark.parametrize("seed", range(6))
def test_mclp_is_optimal_against_brute_force(seed: int) -> None:
    groups = _instance(seed)
    for k in (1, 2, 3, 4):
        sol = optimize.mclp(groups, k)
        assert sol.optimal, sol.status
        assert len(sol.selected) <= k
        assert sol.covered == pytest.approx(_best_cover(groups, k))
        assert sol.covered == pytest.approx(optimize.covered_weight(sol.selected, groups))
        greedy = optimize.greedy_mclp(groups, k)
        assert greedy.covered <= sol.covered + 1e-9 and not greedy.optimal


@pytest.mark.parametrize("seed", range(6))
def test_lscp_is_the_fewest_sites_against_brute_force(seed: int) -> None:
    groups = _instance(seed)
    total = sum(w for _c, w in groups)
    for share in (0.5, 0.8, 1.0):
        target = share * total
        sol = optimize.lscp(groups, target)
        assert sol.optimal, sol.status
        assert sol.covered >= target - 1e-6
        k = _fewest(groups, target)
        assert len(sol.selected) == k
        # among selections of that size it covers the most (ties broken towards coverage)
        assert sol.covered == pytest.approx(_best_cover(groups, k))


def test_lscp_infeasible_and_trivial_targets() -> None:
    groups = optimize.aggregate([([1], 10), ([2], 5)])
    bad = optimize.lscp(groups, 16)
    assert not bad.optimal and bad.status == "Infeasible" and bad.selected == []
    none = optimize.lscp(groups, 0)
    assert none.selected == [] and none.optimal


def test_rank_orders_by_marginal_gain() -> None:
    groups = _instance(3)
    sol = optimize.mclp(groups, 4)
    ranked = optimize.rank(sol.selected, groups)
    gains = [g for _s, g in ranked]
    assert sorted(s for s, _g in ranked) == sol.selected
    assert sum(gains) == pytest.approx(sol.covered)
    assert gains == sorted(gains, reverse=True)


def test_k_at_least_the_useful_candidates_is_trivial() -> None:
    groups = optimize.aggregate([([1], 10), ([2], 5)])
    sol = optimize.mclp(groups, 5)
    assert sol.selected == [1, 2] and sol.covered == 15 and sol.optimal
