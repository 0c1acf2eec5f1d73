"""Progress bars for the long phases (training steps, traces drawn), as callbacks.

The library reports progress through callbacks (:class:`netdiffus.training.TrainProgress`,
``update(k)``); these build them on tqdm bars for a terminal. Nothing is drawn unless asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netdiffus.training import TrainProgress

__all__ = ["train_bar", "trace_bar"]


def train_bar(total: int) -> Callable[[TrainProgress], None]:
    """A callback for :func:`netdiffus.training.train` that draws a bar of ``total`` steps, with
    the loss and images per second; it closes after the last step."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="train", unit="step", dynamic_ncols=True, leave=True, mininterval=0.5)

    def cb(p: TrainProgress) -> None:
        bar.set_postfix(loss=f"{p.loss:.4f}", img_s=f"{p.images_per_s:.0f}", refresh=False)
        bar.update(p.step - bar.n)  # redraws at most every mininterval
        if p.step >= p.steps:
            bar.close()

    return cb


def trace_bar(total: int, desc: str):
    """A tqdm bar of ``total`` traces (call ``update(k)``, then ``close()``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="trace", dynamic_ncols=True)
