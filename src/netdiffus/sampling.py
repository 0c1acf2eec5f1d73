"""Drawing traces from a fitted model: which classes, which seeds, and the loop over batches.

Trace k of a draw with seed s uses the sample seed ``s * 1_000_003 + k`` (:func:`trace_seeds`),
so it is the same whatever the batch size or the number of processes that draw the set: under
torchrun each process draws every K-th trace and all gather them (:func:`draw`). A draw is
described before it is made (:class:`SamplePlan`, checked by :func:`plan_sample`), so that it can
be made in parts: traces ``start`` to ``stop - 1`` of it (:func:`draw` with ``first``), batched as
the whole draw batches them when ``start`` is a multiple of the batch size.

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

import dataclasses
import hashlib
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from netdiffus._version import __version__
from netdiffus.config import NetDiffusConfig, PostprocessConfig, SampleConfig, check_seed
from netdiffus.diffusion.networks import Process, sampling_loop
from netdiffus.distributed import gather_shares, process_share
from netdiffus.errors import ConfigError
from netdiffus.headers import HeaderModel
from netdiffus.io.dataset import LENGTHS_KEPT, DatasetMeta, TraceDataset, trailing_lengths
from netdiffus.io.headers import TraceHeader
from netdiffus.postprocess import check_generated
from netdiffus.progress import trace_bar
from netdiffus.representation import Representation

if TYPE_CHECKING:
    from netdiffus.privacy import PrivacyRecord

__all__ = ["LabelSpec", "SamplePlan", "plan_sample", "resolve_labels", "trace_seeds", "draw", "synthetic_dataset",
           "weights_digest"]

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


@dataclass(frozen=True)
class SamplePlan:
    """A draw, checked and not yet made: trace k has class ``labels[k]`` and sample seed
    ``trace_seeds(seed, [k])``; ``sample`` holds the sampler settings, ``postprocess`` the
    post-processing switches (all off for a raw draw). Built by :func:`plan_sample`."""

    labels: list[str]
    seed: int
    sample: SampleConfig
    postprocess: PostprocessConfig

    @property
    def n(self) -> int:
        """Traces in the draw."""
        return len(self.labels)

    def settings(self) -> dict[str, Any]:
        """The settings that decide the values, but for the model: sampler and post-processing."""
        return {"sample": dataclasses.asdict(self.sample), "postprocess": dataclasses.asdict(self.postprocess)}

    def labels_sha256(self) -> str:
        """A digest of the label of every trace, in order."""
        h = hashlib.sha256()
        for lab in self.labels:
            h.update(lab.encode() + b"\0")
        return h.hexdigest()


def plan_sample(n: int, labels: LabelSpec, *, seed: int, overrides: Mapping[str, Any], raw: bool,
                config: NetDiffusConfig, classes: Sequence[str], class_counts: Mapping[str, int]) -> SamplePlan:
    """The draw of ``n`` traces that ``TrafficSynthesizer.sample`` makes, checked.

    ``labels``: None (the training class balance), one class, one label per trace, or counts per
    class (:func:`resolve_labels`). Trace k uses seed ``seed * 1_000_003 + k`` (``seed`` in [0,
    2**32 - 1]): the same trace at any batch size. ``overrides`` (``sampler``, ``steps``, ``eta``,
    ``guidance_scale``, ``batch_size``, ``temperature``) replace keys of ``config.sample`` (None:
    the config's), checked by the config's rules; ``raw`` switches every post-processing step off.

    Raises
    ------
    ConfigError
        ``n`` < 1, a bad ``seed``, an override the config would refuse, an unknown label or a
        negative count.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ConfigError(f"n must be an integer >= 1 (got {n!r})")
    seed = check_seed(seed)
    sc = dataclasses.replace(config.sample, **{k: v for k, v in overrides.items() if v is not None})
    dataclasses.replace(config, sample=sc).validate()
    post = PostprocessConfig(False, False, False, False) if raw else config.postprocess
    return SamplePlan(resolve_labels(int(n), labels, classes=classes, class_counts=class_counts), seed, sc, post)


def synthetic_dataset(series: np.ndarray, plan: SamplePlan, *, start: int, meta: DatasetMeta,
                      applied: Sequence[str], privacy: PrivacyRecord | None = None,
                      headers: HeaderModel | None = None) -> TraceDataset:
    """Traces ``start`` to ``start + len(series) - 1`` of ``plan`` (post-processed ``series``
    ``[M, C, T]``) as a dataset: ids ``syn-SEED-K``, source ``netdiffus``, and in ``meta.extra``
    what made them (generator, seed, sampler, steps, guidance, the post-processing ``applied``, the
    run's privacy guarantee ``privacy``, None without one). Where the training traces kept their
    lengths, each generated trace's length is the position after its last non-zero value. With a
    header model ``headers``, each trace also gets header fields for export, drawn given its label
    and volume (the sum of its series) with the plan's seed and its index k."""
    sc, m = plan.sample, len(series)
    out = DatasetMeta.from_json(meta.to_json())
    out.extra = {**out.extra, "synthetic": {"generator": f"netdiffus {__version__}", "seed": plan.seed,
                                            "sampler": sc.sampler, "steps": sc.steps,
                                            "guidance_scale": sc.guidance_scale, "postprocess": list(applied),
                                            "privacy": privacy and privacy.to_json()}}
    labels = plan.labels[start:start + m]
    drawn: list[TraceHeader | None] | None = None
    if headers is not None:  # each trace's header given its label and volume (the sum of its series)
        drawn = list(headers.sample(labels=labels, volumes=series.reshape(m, -1).sum(axis=1), seed=plan.seed,
                                    first=start))
    return TraceDataset(series=series.astype(np.float32), labels=labels,
                        ids=[f"syn-{plan.seed}-{k:06d}" for k in range(start, start + m)],
                        sources=["netdiffus"] * m, meta=out, headers=drawn,
                        lengths=trailing_lengths(series) if out.extra.get(LENGTHS_KEPT) is True else None)


def weights_digest(model: nn.Module) -> str:
    """A SHA-256 of a network's weights (names, dtypes, shapes and values): which model drew."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{list(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def trace_seeds(seed: int, indices: Sequence[int]) -> list[int]:
    """The sample seed of each trace ``indices[j]`` of a draw with ``seed``."""
    return [seed * 1_000_003 + k for k in indices]


def draw(model: nn.Module, process: Process, representation: Representation, labels: Sequence[str], *,
         classes: Sequence[str], seed: int, sample: SampleConfig, device: torch.device, progress: bool = False,
         desc: str | None = None, first: int = 0, bar: Any = None) -> np.ndarray:
    """Traces ``[len(labels), C, T]`` (float64, original units, before any post-processing), one
    per label, drawn with ``sample``'s sampler settings. Under torchrun each process draws its
    share and every process returns the whole set.

    ``labels[j]`` is the class of trace ``first + j`` of the draw (its seed is that trace's). The
    progress goes to ``bar`` (``update(k)``; left open) when given, else to a bar of its own,
    ``desc`` (default: the sampler and steps), when ``progress``.
    """
    share = process_share(len(labels))
    desc = desc or f"sample ({sample.sampler}, {sample.steps} steps)"
    own = trace_bar(len(share), desc, bar=progress) if bar is None else None
    part = _draw_part(model, process, representation, [labels[k] for k in share], [first + k for k in share],
                      classes=classes, seed=seed, sample=sample, device=device,
                      bar=own if own is not None else bar)
    if own is not None:
        own.close()
    return check_generated(gather_shares(len(labels), share, part), "from the sampler")


def _draw_part(model: nn.Module, process: Process, representation: Representation, labels: list[str],
               indices: list[int], *, classes: Sequence[str], seed: int, sample: SampleConfig, device: torch.device,
               bar: Any) -> np.ndarray:
    """The traces ``indices`` of the draw (``labels[j]`` is the class of trace ``indices[j]``)."""
    n = len(labels)
    if n == 0:  # e.g. a process's share of a small draw under torchrun
        return np.zeros((0, *representation.trace_shape))
    index = {c: i for i, c in enumerate(classes)}
    y_all = torch.tensor([index[lab] for lab in labels], dtype=torch.long, device=device)
    seeds = trace_seeds(seed, indices)
    x0_hook = representation.x0_hook(sample, model)
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
    return np.concatenate(out).astype(np.float64)
