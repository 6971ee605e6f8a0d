"""Progress on a terminal, silence in pipes and CI.

Long CLI work (import, export, campaign, line derivation, coverage, backup) shows a tqdm bar on stderr when
stderr is a terminal; redirected output, ``CI=…`` or ``DIMING_PROGRESS=off`` keep it quiet so logs and pipes
carry only results. ``DIMING_PROGRESS=on`` forces it (for a terminal the process cannot see, and tests).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def enabled() -> bool:
    wanted = os.environ.get("DIMING_PROGRESS", "auto").lower()
    if wanted in ("on", "1", "true", "yes"):
        return True
    if wanted in ("off", "0", "false", "no"):
        return False
    return sys.stderr.isatty() and not os.environ.get("CI")


class Phases:
    """A bar over the named steps of one piece of work; the current step shows after the bar."""

    def __init__(self, bar: Any) -> None:
        self._bar = bar

    def step(self, name: str) -> None:
        """Start the next step (the previous one counts as done)."""
        if self._bar is None:
            return
        if self._bar.postfix:
            self._bar.update(1)
        self._bar.set_postfix_str(name, refresh=True)


@contextmanager
def phases(desc: str, steps: int) -> Iterator[Phases]:
    """``with phases("derive lines", 3) as p: p.step("read"); …`` — a bar of ``steps`` steps, or nothing."""
    if not enabled():
        yield Phases(None)
        return
    from tqdm import tqdm  # type: ignore[import-untyped]  # imported only when a bar is drawn

    bar = tqdm(total=steps, desc=desc, unit=" step", file=sys.stderr, leave=True, dynamic_ncols=True,
               bar_format="{desc}: {n_fmt}/{total_fmt} {bar} {elapsed} {postfix}")
    try:
        yield Phases(bar)
        bar.update(bar.total - bar.n)
    finally:
        bar.close()


@contextmanager
def activity(desc: str) -> Iterator[None]:
    """A ticking ``desc … 00:12`` line for work that reports no steps of its own (a set-based SQL statement, a
    solver run), so a long command never sits silent on a terminal; nothing at all in a pipe."""
    if not enabled():
        yield
        return
    from tqdm import tqdm

    bar = tqdm(total=None, desc=desc, file=sys.stderr, leave=False, bar_format="{desc} … {elapsed}")
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()
        bar.close()
