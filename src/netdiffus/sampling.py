"""Drawing traces from a fitted model: which classes, which seeds, and the loop over batches.

Trace k of a draw with seed s uses the sample seed ``s * 1_000_003 + k`` (:func:`trace_seeds`),
so it is the same whatever the batch size or the number of processes that draw the set: under
torchrun each process draws every K-th trace and all gather them (:func:`draw`).

Examples
--------
>>> resolve_labels(5, None, classes=["a", "b"], class_counts={"a": 30, "b": 10})
['a', 'a', 'a', 'a', 'b']
>>> resolve_labels(3, {"b": 2, "a": 1}, classes=["a", "b"], class_counts={"a": 30, "b": 10})
['b', 'b', 'a']
>>> trace_seeds(2, [0, 1])
[2000006, 2000007]
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from netdiffus.config import SampleConfig
from netdiffus.diffusion.networks import Process, sampling_loop
from netdiffus.distributed import gather_shares, process_share
from netdiffus.errors import ConfigError
from netdiffus.postprocess import check_generated
from netdiffus.progress import trace_bar
from netdiffus.representation import Representation

__all__ = ["LabelSpec", "resolve_labels", "trace_seeds", "draw"]

#: What ``sample(labels=...)`` takes: None (the training class balance), one class, one label per
#: trace, or counts per class.
LabelSpec = str | Sequence[str] | Mapping[str, int] | None


def resolve_labels(n: int, labels: LabelSpec, *, classes: Sequence[str], class_counts: Mapping[str, int]) -> list[str]:
    """One class name per trace of a draw of ``n``.

    ``labels`` None apportions ``n`` by the training class balance ``class_counts`` (largest
    remainder), ``classes`` in order; a str gives every trace that class; a sequence gives one
    label per trace; a mapping gives counts per class (summing to ``n``).

    Raises
    ------
    ConfigError
        A negative count, a label that is not one of ``classes``, or not ``n`` labels in all.
    """
    if labels is None:
        total = sum(class_counts.values())
        quotas = np.array([class_counts[c] * n / total for c in classes])
        k = np.floor(quotas).astype(int)
        for i in np.argsort(-(quotas - k), kind="stable")[: n - int(k.sum())]:
            k[i] += 1
        return [c for c, ki in zip(classes, k, strict=True) for _ in range(ki)]
    if isinstance(labels, str):
        labels = [labels] * n
    elif isinstance(labels, Mapping):
        for c, k in labels.items():
            if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
                raise ConfigError(f"labels[{c!r}] must be a count >= 0 (got {k!r})")
        labels = [c for c, k in labels.items() for _ in range(int(k))]
    labels = [str(x) for x in labels]
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise ConfigError(f"label {unknown[0]!r} is not a trained class (classes: {', '.join(classes)})")
    if len(labels) != n:
        raise ConfigError(f"labels must give one label per sample ({n}) (got {len(labels)})")
    return labels


def trace_seeds(seed: int, indices: Sequence[int]) -> list[int]:
    """The sample seed of each trace ``indices[j]`` of a draw with ``seed``."""
    return [seed * 1_000_003 + k for k in indices]


def draw(model: nn.Module, process: Process, representation: Representation, labels: Sequence[str], *,
         classes: Sequence[str], seed: int, sample: SampleConfig, device: torch.device, progress: bool = False,
         desc: str = "sample") -> np.ndarray:
    """Traces ``[len(labels), C, T]`` (float64, original units, before any post-processing), one
    per label, drawn with ``sample``'s sampler settings. Under torchrun each process draws its
    share and every process returns the whole set."""
    share = process_share(len(labels))
    part = _draw_part(model, process, representation, [labels[k] for k in share], list(share), classes=classes,
                      seed=seed, sample=sample, device=device, progress=progress, desc=desc)
    return check_generated(gather_shares(len(labels), share, part), "from the sampler")


def _draw_part(model: nn.Module, process: Process, representation: Representation, labels: list[str],
               indices: list[int], *, classes: Sequence[str], seed: int, sample: SampleConfig, device: torch.device,
               progress: bool, desc: str) -> np.ndarray:
    """The traces ``indices`` of the draw (``labels[j]`` is the class of trace ``indices[j]``)."""
    n = len(labels)
    if n == 0:  # e.g. a process's share of a small draw under torchrun
        return np.zeros((0, *representation.trace_shape))
    index = {c: i for i, c in enumerate(classes)}
    y_all = torch.tensor([index[lab] for lab in labels], dtype=torch.long, device=device)
    seeds = trace_seeds(seed, indices)
    x0_hook = representation.x0_hook(sample, model)
    bar = trace_bar(n, desc, bar=progress)
    out = []
    model.eval()
    for lo in range(0, n, sample.batch_size):
        hi = min(n, lo + sample.batch_size)
        x_0 = sampling_loop(process)(
            model, process, shape=representation.sample_shape, y=y_all[lo:hi], seeds=seeds[lo:hi],
            null_class=len(classes), sample=sample, x0_transform=x0_hook,
        )
        out.append(representation.decode(x_0, labels[lo:hi], seeds[lo:hi]))
        bar.update(hi - lo)
    bar.close()
    return np.concatenate(out).astype(np.float64)
