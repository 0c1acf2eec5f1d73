"""The run manifest: what ``model.json`` in a run folder holds, as one typed, versioned record.

``TrafficSynthesizer.save`` writes it; ``TrafficSynthesizer.load`` and ``netdiffus info`` read a
run folder through :func:`read_run`, and model.json through :meth:`RunManifest.from_json`, which
checks each field's type before anything uses it and
reads the layouts of earlier versions (:data:`FORMAT_VERSION`; a file without
``format_version`` is version 1, written by netdiffus 0.1.0, whose post-processing state sat at the
top level).

Examples
--------
>>> m = RunManifest(netdiffus_version="0.1.0", unet={"in_channels": 1}, classes=["a", "b"],
...                 class_counts={"a": 3, "b": 4}, shape=(1, 8), imaging={}, dataset_meta={},
...                 postprocess={"zero_threshold": [0.0]})
>>> RunManifest.from_json(m.to_json()) == m
True
>>> RunManifest.from_json({"format_version": 9})
Traceback (most recent call last):
...
netdiffus.errors.CheckpointError: model.json has format version 9; this netdiffus reads up to 4 (upgrade it)
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from netdiffus.checkpoint import CONFIG_FILE, load_checkpoint
from netdiffus.config import NetDiffusConfig
from netdiffus.diffusion.networks import build_network, network_config
from netdiffus.errors import CheckpointError, ConfigError
from netdiffus.privacy import PrivacyRecord
from netdiffus.representation import REPRESENTATIONS

__all__ = ["RunManifest", "FORMAT_VERSION", "POSTPROCESS_KEYS", "check_against_config", "SavedRun", "read_run"]

#: The layout :meth:`RunManifest.to_json` writes. 2: post-processing state under "postprocess".
#: 3: "privacy", the guarantee of a private fit (null without DP; absent before version 3).
#: 4: "headers", the header model (:class:`netdiffus.headers.HeaderModel` JSON; null without one).
FORMAT_VERSION = 4

#: The post-processing state's keys (:meth:`netdiffus.postprocess.Postprocessor.to_json`); in
#: version 1 they sat at the top level of model.json.
POSTPROCESS_KEYS = ("zero_threshold", "value_lexicon", "totals_calibration")


@dataclass
class RunManifest:
    """What a fitted run records beside its weights and its config.json.

    Parameters
    ----------
    netdiffus_version : str
        The version that saved the run.
    unet : dict
        The network's constructor arguments (``UNet(**unet)`` rebuilds it).
    classes : list of str
        Class names, in the order of the network's class indices.
    class_counts : dict of str to int
        Training traces per class (the default class balance of ``sample``).
    shape : (int, int)
        ``(C, T)`` of one trace.
    imaging : dict
        The fitted representation's scaling (:meth:`netdiffus.representation.Representation.to_json`).
    dataset_meta : dict
        The training dataset's metadata (:class:`netdiffus.io.dataset.DatasetMeta`).
    postprocess : dict
        The fitted post-processing chain (:class:`netdiffus.postprocess.Postprocessor`).
    fit_seconds : float
        Wall time of training.
    privacy : PrivacyRecord or None
        The ``(epsilon, delta)`` guarantee of a private fit (:mod:`netdiffus.privacy`); None
        without DP.
    headers : dict or None
        The header model fitted on the training traces' header records
        (:meth:`netdiffus.headers.HeaderModel.to_json`); None without one (no records, or DP).
    """

    netdiffus_version: str
    unet: dict[str, Any]
    classes: list[str]
    class_counts: dict[str, int]
    shape: tuple[int, int]
    imaging: dict[str, Any]
    dataset_meta: dict[str, Any]
    postprocess: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float = 0.0
    privacy: PrivacyRecord | None = None
    headers: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The model.json object (current layout)."""
        return {"format_version": FORMAT_VERSION, **asdict(self), "shape": list(self.shape),
                "privacy": None if self.privacy is None else self.privacy.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any], *, run: str | None = None) -> RunManifest:
        """Read a model.json object of any version up to :data:`FORMAT_VERSION`; ``run`` (the run
        folder) starts the messages.

        Raises
        ------
        CheckpointError
            A newer version, a missing key (``RUN: config.json or model.json lacks 'shape' (not
            written by netdiffus fit?)``) or a field of the wrong type (``RUN/model.json: classes
            must be a list of strings (got 3)``).
        """
        where = "model.json" if run is None else f"{run}/model.json"
        version = data.get("format_version", 1)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise CheckpointError(f"{where}: format_version must be an integer >= 1 (got {version!r})")
        if version > FORMAT_VERSION:
            raise CheckpointError(f"{where} has format version {version}; this netdiffus reads up to {FORMAT_VERSION} "
                                  "(upgrade it)")
        if version == 1:
            data = {**{k: v for k, v in data.items() if k not in POSTPROCESS_KEYS},
                    "postprocess": {k: data[k] for k in POSTPROCESS_KEYS if k in data}}
        missing = [k for k in ("unet", "classes", "class_counts", "shape", "imaging", "dataset_meta")
                   if k not in data]
        if missing:
            raise CheckpointError(f"{run or '.'}: config.json or model.json lacks {missing[0]!r} (not written by "
                                  "netdiffus fit?)")
        return cls(
            netdiffus_version=_check(where, "netdiffus_version", data.get("netdiffus_version", ""), _is_str,
                                     "a string"),
            unet=_check(where, "unet", data["unet"], _is_object, "an object"),
            classes=_check(where, "classes", data["classes"], _is_str_list, "a list of strings"),
            class_counts=_check(where, "class_counts", data["class_counts"], _is_counts,
                                "an object of counts >= 1"),
            shape=tuple(_check(where, "shape", data["shape"], _is_shape, "[channels, length] of integers >= 1")),
            imaging=_check(where, "imaging", data["imaging"], _is_object, "an object"),
            dataset_meta=_check(where, "dataset_meta", data["dataset_meta"], _is_object, "an object"),
            postprocess=_check(where, "postprocess", data.get("postprocess", {}), _is_object, "an object"),
            fit_seconds=float(_check(where, "fit_seconds", data.get("fit_seconds", 0.0), _is_number, "a number")),
            privacy=_privacy(where, data.get("privacy")),
            headers=_check(where, "headers", data.get("headers"), lambda v: v is None or _is_object(v),
                           "an object or null"),
        )


def check_against_config(manifest: RunManifest, config: NetDiffusConfig, *, run: str) -> None:
    """Refuse a manifest whose network does not follow config.json (a tampered or mixed run folder):
    its constructor arguments must be the ones config.json's ``[model]`` section, the run's shape,
    classes and representation give (built on the meta device: no weights are allocated). config.json's
    values are checked and bounded as it is read, so a network built from a manifest that passes
    is bounded too.

    Raises
    ------
    CheckpointError
        ``RUN/model.json: unet.base_channels is 999 but config.json and the run make it 8``.
    """
    c, t = manifest.shape
    saved = manifest.unet
    if len(manifest.classes) != len(set(manifest.classes)) or set(manifest.class_counts) != set(manifest.classes):
        raise CheckpointError(f"{run}/model.json: classes and class_counts must name the same classes, once each")
    shape: dict[str, Any]
    if config.model.network == "transformer":
        sizes = saved.get("vocab_sizes")
        if not (isinstance(sizes, list) and len(sizes) == c and all(_is_int(v) and 1 <= v <= 4096 for v in sizes)):
            raise CheckpointError(f"{run}/model.json: unet.vocab_sizes must be {c} integers in [1, 4096] (got "
                                  f"{str(sizes)[:60]})")
        shape = {"vocab_sizes": sizes, "length": t}
    else:
        shape = {"in_channels": c, "dims": getattr(REPRESENTATIONS[config.imaging.representation], "dims", 1)}
    with torch.device("meta"):
        want = network_config(build_network(config, num_classes=len(manifest.classes), **shape))
    for key in sorted(set(want) | set(saved)):
        got, expected = saved.get(key), want.get(key)
        expected = list(expected) if isinstance(expected, tuple) else expected  # JSON has lists
        if got != expected or type(got) is not type(expected):
            raise CheckpointError(f"{run}/model.json: unet.{key} is {got!r} but config.json and the run make it "
                                  f"{expected!r}")


@dataclass
class SavedRun:
    """A run folder as read: its checked configuration, manifest and weights."""

    config: NetDiffusConfig
    manifest: RunManifest
    state: dict[str, torch.Tensor]


def read_run(path: str | Path) -> SavedRun:
    """Read and check a run folder written by ``fit`` (of this or an earlier version).

    Raises
    ------
    CheckpointError
        Not a complete run folder (:func:`netdiffus.checkpoint.load_checkpoint`), a config.json
        value this version refuses (``runs/x/config.json: train.seed must be ... (got -1)``), or a
        model.json that is malformed or does not follow config.json (:func:`check_against_config`).
    """
    raw, state, info = load_checkpoint(path)
    try:
        config = NetDiffusConfig.from_dict(raw)
    except ConfigError as exc:  # a value this version refuses: the run folder's fault
        raise CheckpointError(f"{Path(path) / CONFIG_FILE}: {exc}") from None
    manifest = RunManifest.from_json(info, run=str(path))
    check_against_config(manifest, config, run=str(path))
    return SavedRun(config, manifest, state)


def _privacy(where: str, data: Any) -> PrivacyRecord | None:
    """model.json's "privacy" (None: trained without DP, or saved before version 3)."""
    if data is None:
        return None
    try:
        return PrivacyRecord.from_json(_check(where, "privacy", data, _is_object, "an object or null"))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: {exc}") from None


def _check(where: str, name: str, value: Any, ok, want: str) -> Any:
    if not ok(value):
        shown = repr(value) if len(repr(value)) <= 60 else type(value).__name__
        raise CheckpointError(f"{where}: {name} must be {want} (got {shown})")
    return value


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_object(v: Any) -> bool:
    return isinstance(v, dict)


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_counts(v: Any) -> bool:
    return isinstance(v, dict) and all(_is_int(k) and k >= 1 for k in v.values())


def _is_shape(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) and x >= 1 for x in v)
