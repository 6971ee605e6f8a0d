"""Site selection models solved with PuLP (CBC): maximal covering (MCLP) and set covering (LSCP).

Input is a coverage matrix computed in SQL, given as *groups*: each group is a set of candidate ids that
cover some demand, with the demand's total weight. Demand points with the same covering set are merged into
one group first (exactly equivalent, and it shrinks real instances many times). Demand that no candidate
covers is left out: no choice changes it.

MCLP:  max Σ w_g·y_g  s.t.  y_g ≤ Σ_{j∈N_g} x_j,  Σ x_j = k,  x binary,  0 ≤ y ≤ 1.
LSCP:  min Σ x_j      s.t.  Σ w_g·y_g ≥ target, y_g ≤ Σ_{j∈N_g} x_j — then, with that many sites, the MCLP
       that covers the most (so ties are broken towards more coverage).
``y`` may be continuous: for binary ``x`` an optimal ``y`` is 0/1 anyway.
"""

from __future__ import annotations

import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pulp

Group = tuple[tuple[int, ...], float]
SOLVER = f"PuLP {pulp.__version__} / CBC"


@dataclass(frozen=True)
class Solution:
    selected: list[int]
    covered: float  # weight of the groups the selection covers
    optimal: bool
    status: str
    solver: str = SOLVER
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def aggregate(rows: Iterable[tuple[Sequence[int], float]]) -> list[Group]:
    """Merge demand with identical covering sets; drop uncoverable or weightless demand."""
    acc: dict[tuple[int, ...], float] = defaultdict(float)
    for cands, w in rows:
        key = tuple(sorted(set(int(c) for c in cands)))
        if key and w > 0:
            acc[key] += float(w)
    return sorted(acc.items())


def covered_weight(selected: Iterable[int], groups: Sequence[Group]) -> float:
    chosen = set(selected)
    return sum(w for cands, w in groups if chosen.intersection(cands))


def rank(selected: Sequence[int], groups: Sequence[Group], limit: int | None = None) -> list[tuple[int, float]]:
    """Order chosen sites by the weight each adds to the ones before it (greedy order within the choice)."""
    left = list(selected)
    limit = len(left) if limit is None else min(limit, len(left))
    covered: set[int] = set()
    out: list[tuple[int, float]] = []
    by_site: dict[int, list[int]] = defaultdict(list)
    for gi, (cands, _w) in enumerate(groups):
        for c in cands:
            by_site[c].append(gi)
    while len(out) < limit:
        gains = [(sum(groups[g][1] for g in by_site[s] if g not in covered), -s, s) for s in left]
        gain, _neg, best = max(gains)
        out.append((best, gain))
        covered.update(by_site[best])
        left.remove(best)
    return out


def _candidates(groups: Sequence[Group]) -> list[int]:
    return sorted({c for cands, _w in groups for c in cands})


def _status(prob: pulp.LpProblem) -> tuple[bool, str]:
    status = pulp.LpStatus.get(prob.status, str(prob.status))
    sol = pulp.LpSolution.get(prob.sol_status, str(prob.sol_status))
    return prob.sol_status == pulp.LpSolutionOptimal, f"{status} ({sol})"


def _solver(time_limit: float | None) -> pulp.LpSolver:
    # PuLP 3 bundles CBC and announces that PuLP 4 (Python ≥ 3.12) will not: a known, pinned choice here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit)


def _chosen(x: dict[int, pulp.LpVariable]) -> list[int]:
    return sorted(j for j, v in x.items() if (v.value() or 0) > 0.5)


def mclp(groups: Sequence[Group], k: int, time_limit: float | None = None) -> Solution:
    """Choose ``k`` sites covering the most weight."""
    t0 = time.perf_counter()
    cands = _candidates(groups)
    if k <= 0 or not cands:
        return Solution([], 0.0, True, "trivial", seconds=time.perf_counter() - t0)
    if k >= len(cands):
        return Solution(cands, covered_weight(cands, groups), True, "trivial: every useful candidate chosen",
                        seconds=time.perf_counter() - t0,
                        notes=[f"only {len(cands)} candidates add coverage; k={k}"])
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = {j: prob.add_variable(f"x_{j}", cat=pulp.LpBinary) for j in cands}
    y = [prob.add_variable(f"y_{g}", lowBound=0, upBound=1) for g in range(len(groups))]
    prob += pulp.lpSum(w * y[g] for g, (_c, w) in enumerate(groups))
    for g, (cs, _w) in enumerate(groups):
        prob += y[g] <= pulp.lpSum(x[j] for j in cs)
    prob += pulp.lpSum(x.values()) == k
    prob.solve(_solver(time_limit))
    optimal, status = _status(prob)
    chosen = _chosen(x)
    return Solution(chosen, covered_weight(chosen, groups), optimal, status, seconds=time.perf_counter() - t0)


def lscp(groups: Sequence[Group], target: float, time_limit: float | None = None) -> Solution:
    """The fewest sites covering at least ``target`` weight (``target`` above the coverable total: infeasible)."""
    t0 = time.perf_counter()
    total = sum(w for _c, w in groups)
    if target <= 1e-9:
        return Solution([], 0.0, True, "trivial: target already met", seconds=time.perf_counter() - t0)
    if target > total + 1e-6:
        return Solution([], 0.0, False, "Infeasible", seconds=time.perf_counter() - t0,
                        notes=[f"at most {total} can be covered by these candidates"])
    cands = _candidates(groups)
    prob = pulp.LpProblem("lscp", pulp.LpMinimize)
    x = {j: prob.add_variable(f"x_{j}", cat=pulp.LpBinary) for j in cands}
    y = [prob.add_variable(f"y_{g}", lowBound=0, upBound=1) for g in range(len(groups))]
    prob += pulp.lpSum(x.values())
    for g, (cs, _w) in enumerate(groups):
        prob += y[g] <= pulp.lpSum(x[j] for j in cs)
    # a hair below the target so rounding in the weights never makes an exact target infeasible
    prob += pulp.lpSum(w * y[g] for g, (_c, w) in enumerate(groups)) >= target - 1e-6
    prob.solve(_solver(time_limit))
    optimal, status = _status(prob)
    first = _chosen(x)
    if prob.status != pulp.LpStatusOptimal and not first:
        return Solution([], 0.0, False, status, seconds=time.perf_counter() - t0)
    best = mclp(groups, len(first), time_limit)  # same number of sites, as much coverage as possible
    chosen = best.selected if best.covered >= covered_weight(first, groups) else first
    return Solution(chosen, covered_weight(chosen, groups), optimal and best.optimal, status,
                    seconds=time.perf_counter() - t0)


def greedy_mclp(groups: Sequence[Group], k: int) -> Solution:
    """The classic greedy heuristic (a (1 − 1/e) approximation): a baseline, never reported as optimal."""
    t0 = time.perf_counter()
    ranked = rank(_candidates(groups), groups, limit=k)
    chosen = sorted(s for s, _g in ranked)
    return Solution(chosen, covered_weight(chosen, groups), False, "heuristic (greedy)", solver="greedy",
                    seconds=time.perf_counter() - t0)
