"""A small 2-D CNN on GASF images (the paper's downstream classifier) and the Frechet distance.

The network follows the Deep Fingerprinting CNN's shape on images: four convolution blocks of
32 / 64 / 128 / 256 channels (3 x 3 convolution, batch norm, ELU, 2 x 2 max pooling, dropout),
then dense layers of 128 and 64 units and the class layer. To stay cheap on a laptop CPU, images
larger than ``pool_above`` pixels a side are first average-pooled 2 x 2 (a 60 x 60 GASF becomes
30 x 30, a quarter of the cost; GASF images are smooth at that scale). The 64 units are the embedding used by
the Frechet distance (:func:`frechet_distance`).

Series ``[N, C, T]`` become images ``[N, C, T, T]``: a :class:`~netdiffus.imaging.SeriesScaler`
is fitted on the real training traces (``global-log``, or ``global-linear`` when a value is
negative, e.g. signed packet sizes), then :func:`~netdiffus.imaging.gasf` per channel. Values out
of the fitted range are clipped.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = np.concatenate([rng.lognormal(3, 0.3, (20, 1, 16)), rng.lognormal(6, 0.3, (20, 1, 16))])
>>> y = np.array(["a"] * 20 + ["b"] * 20)
>>> clf = GasfCnnClassifier(epochs=3, seed=0).fit(x, y)
>>> clf.predict(x).shape, clf.embed(x).shape
((40,), (40, 64))
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import linalg
from torch import nn

from netdiffus.errors import DatasetError
from netdiffus.imaging import SeriesScaler, gasf
from netdiffus.imaging.scaling import ScalingMode

__all__ = [
    "GasfCnn",
    "GasfCnnClassifier",
    "CnnEvaluation",
    "cnn_evaluation",
    "frechet_distance",
    "DEFAULT_EPOCHS",
    "FAST_EPOCHS",
]

log = logging.getLogger(__name__)

DEFAULT_EPOCHS = 10
FAST_EPOCHS = 4


class GasfCnn(nn.Module):
    """Image classifier ``[N, C, T, T] -> [N, n_classes]`` logits; :meth:`embed` gives ``[N, 64]``."""

    def __init__(
        self,
        *,
        in_channels: int,
        n_classes: int,
        widths: Sequence[int] = (32, 64, 128, 256),
        dense: Sequence[int] = (128, 64),
        dropout: float = 0.1,
        input_pool: int = 1,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.AvgPool2d(input_pool)] if input_pool > 1 else []
        c = in_channels
        for w in widths:
            blocks += [
                nn.Conv2d(c, w, kernel_size=3, padding=1),
                nn.BatchNorm2d(w),
                nn.ELU(),
                nn.MaxPool2d(2, ceil_mode=True),
                nn.Dropout(dropout),
            ]
            c = w
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(2), nn.Flatten())
        layers: list[nn.Module] = []
        d = c * 4
        for u in dense:
            layers += [nn.Linear(d, u), nn.BatchNorm1d(u), nn.ReLU(), nn.Dropout(dropout)]
            d = u
        self.head = nn.Sequential(*layers)
        self.out = nn.Linear(d, n_classes)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(images))


class GasfCnnClassifier:
    """Fit / predict / embed wrapper of :class:`GasfCnn` on traces ``[N, C, T]`` in original units.

    Parameters
    ----------
    epochs : int
        Training epochs (Adam, learning rate ``lr``, batch ``batch_size``).
    seed : int
        Seeds the weights and the batch order.
    pool_above : int
        Series longer than this are imaged, then average-pooled 2 x 2 at the network input.
    scaler : SeriesScaler, optional
        A fitted scaler to image with; by default one is fitted on the training traces of
        :meth:`fit`.
    """

    def __init__(
        self,
        *,
        epochs: int = DEFAULT_EPOCHS,
        seed: int = 0,
        lr: float = 2e-3,
        batch_size: int = 32,
        widths: Sequence[int] = (32, 64, 128, 256),
        pool_above: int = 32,
        scaler: SeriesScaler | None = None,
    ) -> None:
        self.epochs = epochs
        self.seed = seed
        self.lr = lr
        self.batch_size = batch_size
        self.widths = tuple(widths)
        self.pool_above = pool_above
        self.scaler = scaler

    def images(self, x: np.ndarray) -> torch.Tensor:
        """Traces ``[N, C, T]`` -> GASF images ``[N, C, T, T]`` (float32 tensor) with the fitted scaler."""
        z = self.scaler_.transform(np.asarray(x, dtype=np.float64))
        return torch.from_numpy(gasf(z).astype(np.float32))

    def fit(self, x: np.ndarray, y: Sequence[str] | np.ndarray, *,
            classes: Sequence[str] | None = None) -> GasfCnnClassifier:
        """Train on traces ``x`` ``[N, C, T]`` with labels ``y`` ``[N]``."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        if len(x) < 2:
            raise DatasetError(f"the CNN needs at least 2 training traces (got {len(x)})")
        if self.scaler is not None:
            self.scaler_ = self.scaler
        else:
            mode: ScalingMode = "global-linear" if np.any(x < 0) else "global-log"
            self.scaler_ = SeriesScaler(mode=mode).fit(x)
        self.classes_ = sorted(set(y) | set(classes or []))
        index = {c: i for i, c in enumerate(self.classes_)}
        target = torch.tensor([index[c] for c in y], dtype=torch.long)
        imgs = self.images(x)
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        self.model_ = GasfCnn(in_channels=x.shape[1], n_classes=len(self.classes_), widths=self.widths,
                              input_pool=2 if x.shape[2] > self.pool_above else 1)  # fmt: skip
        opt = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.epochs))
        loss_fn = nn.CrossEntropyLoss()
        t0 = time.perf_counter()
        self.model_.train()
        for epoch in range(self.epochs):
            perm = torch.randperm(len(imgs), generator=gen)
            total = 0.0
            for i in range(0, len(imgs), self.batch_size):
                b = perm[i : i + self.batch_size]
                if len(b) < 2:  # batch norm needs two samples
                    continue
                opt.zero_grad()
                loss = loss_fn(self.model_(imgs[b]), target[b])
                loss.backward()
                opt.step()
                total += loss.item() * len(b)
            sched.step()
            log.debug("cnn epoch %d loss %.4f", epoch + 1, total / len(imgs))
        self.fit_seconds_ = time.perf_counter() - t0
        self.model_.eval()
        return self

    @torch.no_grad()
    def _batched(self, x: np.ndarray, fn) -> np.ndarray:
        imgs = self.images(x)
        return torch.cat([fn(imgs[i : i + 256]) for i in range(0, len(imgs), 256)]).numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Labels ``[N]`` of traces ``x`` ``[N, C, T]``."""
        logits = self._batched(x, self.model_)
        return np.asarray(self.classes_, dtype=object)[logits.argmax(axis=1)]

    def embed(self, x: np.ndarray) -> np.ndarray:
        """Penultimate-layer embeddings ``[N, 64]`` of traces ``x`` ``[N, C, T]``."""
        return self._batched(x, self.model_.embed)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to embeddings ``a`` ``[N, D]`` and ``b`` ``[M, D]``.

    ``|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))``; 0 for identical sets.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise DatasetError(f"the Frechet distance needs at least 2 embeddings per set (got {len(a)} and {len(b)})")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        # Singular covariances (fewer traces than dimensions) are expected; the epsilon retry
        # below handles the non-finite case.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s_a @ s_b)
        if not np.all(np.isfinite(covmean)):
            eps = 1e-6 * np.eye(len(s_a))
            covmean = linalg.sqrtm((s_a + eps) @ (s_b + eps))
    covmean = np.real(covmean)
    return float(max(0.0, np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2.0 * covmean)))


@dataclass
class CnnEvaluation:
    """CNN TRTR / TSTR / TRSTR scores, the Frechet distance and the fitted real-data model."""

    scores: dict[str, dict[str, float]]
    frechet: float
    trtr_model: GasfCnnClassifier
    info: dict[str, Any] = field(default_factory=dict)


def cnn_evaluation(
    real_train: tuple[np.ndarray, np.ndarray],
    synthetic: tuple[np.ndarray, np.ndarray],
    real_test: tuple[np.ndarray, np.ndarray],
    *,
    seed: int = 0,
    fast: bool = False,
    epochs: int | None = None,
    trtr_model: GasfCnnClassifier | None = None,
) -> CnnEvaluation:
    """TRTR / TSTR / TRSTR with the GASF CNN, and the Frechet distance of real-test vs synthetic
    embeddings of the real-trained CNN.

    Each argument is a pair ``(series [N, C, T], labels [N])``. Every model images with the scaler
    fitted on the real training traces. Pass ``trtr_model`` (from an earlier call on the same real
    data) to skip retraining it.
    """
    from netdiffus.evaluation.utility import _scores

    (xr, yr), (xs, ys), (xt, yt) = real_train, synthetic, real_test
    n_epochs = epochs if epochs is not None else (FAST_EPOCHS if fast else DEFAULT_EPOCHS)
    classes = sorted(set(np.asarray(yr)) | set(np.asarray(yt)))
    if trtr_model is None:
        trtr_model = GasfCnnClassifier(epochs=n_epochs, seed=seed).fit(xr, yr, classes=classes)
    scaler = trtr_model.scaler_
    scores = {"TRTR": _scores(np.asarray(yt), trtr_model.predict(xt))}
    seconds = {"TRTR": round(trtr_model.fit_seconds_, 2)}
    for name, (x, y) in {
        "TSTR": (xs, ys),
        "TRSTR": (np.concatenate([xr, xs]), np.concatenate([np.asarray(yr), np.asarray(ys)])),
    }.items():
        m = GasfCnnClassifier(epochs=n_epochs, seed=seed, scaler=scaler).fit(x, y, classes=classes)
        scores[name] = _scores(np.asarray(yt), m.predict(xt))
        seconds[name] = round(m.fit_seconds_, 2)
    fd = frechet_distance(trtr_model.embed(xt), trtr_model.embed(xs))
    return CnnEvaluation(
        scores=scores, frechet=fd, trtr_model=trtr_model, info={"epochs": n_epochs, "fit_seconds": seconds}
    )
