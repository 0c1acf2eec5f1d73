"""Progress bars for the long phases (training steps, traces drawn), as callbacks.

The library reports progress through callbacks (:class:`netdiffus.training.TrainProgress`,
``update(k)``); these build them on tqdm bars for a terminal, or on periodic log lines where no
bar is shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netdiffus.training import TrainProgress

__all__ = ["train_bar", "trace_bar"]

log = logging.getLogger(__name__)


def train_bar(total: int, *, bar: bool = True, every_s: float = 30.0) -> Callable[[TrainProgress], None]:
    """A callback for :func:`netdiffus.training.train` that draws a bar of ``total`` steps, with
    the loss and images per second; it closes after the last step. Without ``bar`` (not on a
    terminal) it logs a line (INFO) at most every ``every_s`` seconds instead, so that a long
    training is never silent."""
    if not bar:
        return _TrainLog(every_s)
    from tqdm.auto import tqdm

    tqdm_bar = tqdm(total=total, desc="train", unit="step", dynamic_ncols=True, leave=True, mininterval=0.5)

    def cb(p: TrainProgress) -> None:
        tqdm_bar.set_postfix(loss=f"{p.loss:.4f}", img_s=f"{p.images_per_s:.0f}", refresh=False)
        tqdm_bar.update(p.step - tqdm_bar.n)  # redraws at most every mininterval
        if p.step >= p.steps:
            tqdm_bar.close()

    return cb


class _TrainLog:
    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.t0 = self.last = time.perf_counter()

    def __call__(self, p: TrainProgress) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every_s and p.step < p.steps:
            self.last = now
            log.info("train: step %d of %d, loss %.4f (%.0f s)", p.step, p.steps, p.loss, now - self.t0)
        elif p.step >= p.steps and self.last > self.t0:  # said something before: say it ended
            log.info("train: %d steps in %.0f s", p.steps, now - self.t0)


def trace_bar(total: int, desc: str, *, bar: bool = True, every_s: float = 30.0, initial: int = 0):
    """Progress of ``total`` traces (call ``update(k)``, then ``close()``): a tqdm bar, or without
    ``bar`` (not on a terminal) a log line (INFO) at most every ``every_s`` seconds, so that a long
    draw is never silent. ``initial``: traces done before (a resumed draw)."""
    if bar:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="trace", dynamic_ncols=True, initial=initial)
    return _LogProgress(total, desc, every_s, initial)


class _LogProgress:
    def __init__(self, total: int, desc: str, every_s: float, initial: int = 0) -> None:
        self.total, self.desc, self.every_s = total, desc, every_s
        self.n, self.t0 = initial, time.perf_counter()
        self.last = self.t0

    def update(self, k: int) -> None:
        self.n += k
        now = time.perf_counter()
        if now - self.last >= self.every_s and self.n < self.total:
            self.last = now
            log.info("%s: %d of %d traces (%.0f s)", self.desc, self.n, self.total, now - self.t0)

    def close(self) -> None:
        if self.last > self.t0:  # said something before: say it ended
            log.info("%s: %d traces in %.0f s", self.desc, self.n, time.perf_counter() - self.t0)
