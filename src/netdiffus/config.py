"""Typed configuration: dataclasses with defaults, TOML presets in, resolved JSON out.

A run's configuration is a :class:`NetDiffusConfig` made of one dataclass per concern. Presets
live in ``netdiffus/presets/<name>.toml`` (the repository's ``configs/`` folder); a user TOML file
and ``section.key=value`` overrides are applied on top. The resolved configuration is written as
JSON into every run folder.

Examples
--------
>>> cfg = load_config(preset="demo", overrides=["train.steps=10"])
>>> cfg.train.steps, cfg.model.base_channels > 0
(10, True)
>>> NetDiffusConfig.from_dict(cfg.to_dict()) == cfg
True
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

from netdiffus.errors import ConfigError

__all__ = [
    "DistillConfig",
    "DISTILL_METHODS",
    "ImagingConfig",
    "ModelConfig",
    "DiffusionConfig",
    "TrainConfig",
    "SampleConfig",
    "PostprocessConfig",
    "NetDiffusConfig",
    "migrate_keys",
    "load_config",
    "list_presets",
    "check_seed",
    "NO_PRESET",
    "MAX_SEED",
]

#: The ``preset`` label of a configuration built from the dataclass defaults alone, without any
#: preset file (``load_config(preset=None)``, ``NetDiffusConfig()``).
NO_PRESET = "none"
#: Largest seed accepted anywhere (numpy and scikit-learn take seeds in [0, 2**32 - 1]).
MAX_SEED = 2**32 - 1
#: Upper bounds of sizes: far above any preset, low enough that a mistyped (or tampered) value is
#: an error, not a machine brought down by an allocation.
MAX_IMAGE_SIZE = 4096
MAX_BATCH = 65536


def check_seed(value: object, name: str = "seed") -> int:
    """``value`` as an int seed; :class:`ConfigError` unless it is an integer in [0, 2**32 - 1].

    >>> check_seed(7)
    7
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    netdiffus.errors.ConfigError: seed must be an integer from 0 to 2**32 - 1 (got -1)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) <= MAX_SEED:
        raise ConfigError(f"{name} must be an integer from 0 to 2**32 - 1 (got {value!r})")
    return int(value)


@dataclass
class ImagingConfig:
    """How series become images (see :class:`netdiffus.imaging.GramianAngularField`).

    representation : "gasf" images ``[C, S, S]`` (the paper), "series" (the 1-D baseline: the
        model sees the scaled series ``[C, T]`` directly), or "tokens" (each value a token of its
        channel's vocabulary, :class:`netdiffus.vocab.SeriesVocabulary`: exact values that recur,
        quantile bins for the others; for packet sequences and other discrete traffic, with
        ``model.network = "transformer"`` and ``diffusion.process = "masked"``).
    token_bins : quantile bins per channel of the "tokens" representation for the values that do
        not recur exactly.
    scaling : fitted scaling to [0, 1] before imaging; the per-series modes (the paper's per-trace
        min-max) generate each trace's scale with a class-conditional model given the image.
        "auto" (the default) is "global-log" for counts and sizes, "global-linear" when a training
        value is negative (signed packet sizes); the run's config.json records the choice.
    gamma : gamma correction of ``(G + 1) / 2`` (1 = none; the paper used 0.25).
    image_size : image side S after PAA (0 = the series length, no PAA).
    inversion : how a generated GASF becomes a series: from its "diagonal" (the paper), or by
        "projection" onto the nearest valid GASF (least squares over all S x S entries).
    range_min, range_max : the global scaling's range in dataset units, the same for every
        channel (values beyond it are clipped); ``range_max = 0`` (the default): the range is
        fitted on the training set. A private fit (``train.dp_epsilon > 0``) needs it set, since
        the training range would reveal its extreme traces (docs/privacy.md).
    """

    representation: Literal["gasf", "series", "tokens"] = "gasf"
    scaling: Literal["auto", "global-log", "global-linear", "per-series", "per-series-log"] = "auto"
    gamma: float = 1.0
    image_size: int = 0
    inversion: Literal["diagonal", "projection"] = "projection"
    token_bins: int = 32
    range_min: float = 0.0
    range_max: float = 0.0


@dataclass
class PostprocessConfig:
    """What ``sample`` does to generated series, in original units, in this order
    (:mod:`netdiffus.postprocess`; ``sample(raw=True)`` skips all four).

    calibrate_totals : after training, ``fit`` draws a reference set with the run's ``sample``
        settings and fits, per class, a monotone map of log volume (``log1p`` of a trace's total)
        onto the training traces' distribution; ``sample`` scales each generated trace by it
        (:class:`netdiffus.postprocess.TotalsCalibration`). Classes whose values the value snap
        holds (packet sizes, protocol constants) are left as generated.
    snap_zeros : traffic counters are 0 or at least one packet: when a channel's training traces
        hold exact zeros, generated values below the log-midpoint between 0 and the smallest
        non-zero training value become 0.
    snap_values : where a class's values recur exactly (protocol constants: the same byte counts
        or packet sizes trace after trace), a generated value takes the nearest value that at
        least 2 of its class's training traces hold, if within a factor of about 1.65
        (:class:`netdiffus.postprocess.ValueLexicon`). Continuous channels are left as generated.
    possible_values : last, only values a capture can hold, per channel as the training traces
        show them (:class:`netdiffus.postprocess.ValueRange`): a non-zero value is at least the
        smallest non-zero training magnitude (a header, one packet), no value is negative where no
        training value is, and channels of whole numbers (bytes, packets) are rounded. A private
        run (DP) keeps the range its units imply instead (:meth:`~netdiffus.postprocess.ValueRange.public`).
    """

    calibrate_totals: bool = True
    snap_zeros: bool = True
    snap_values: bool = True
    possible_values: bool = True


@dataclass
class ModelConfig:
    """UNet shape. ``patch_size`` > 1 folds p x p pixels into channels at the input (and unfolds
    at the output), which divides the cost at full resolution by about p**2. ``output = "gasf"``
    makes the network's ``x_0`` prediction a valid GASF by construction (needs
    ``diffusion.prediction = "x0"``). ``gasf_head`` reads its angles per patch ("patch") or per
    bin ("bin": finer, for sparse series); "auto" picks "bin" when more than half of the training
    bins are empty, else "patch", at ``fit`` (the run's config.json records the choice).

    ``network = "transformer"`` (for the "tokens" representation) is a transformer over the token
    sequence of width ``base_channels``, ``layers`` encoder layers and ``heads`` attention heads
    (:class:`netdiffus.diffusion.transformer.TokenTransformer`); the UNet fields do not apply."""

    network: Literal["unet", "transformer"] = "unet"
    base_channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attention_levels: tuple[int, ...] = ()
    dropout: float = 0.0
    patch_size: int = 2
    symmetric_output: bool = True
    output: Literal["image", "gasf"] = "image"
    gasf_head: Literal["patch", "bin", "auto"] = "auto"
    layers: int = 3
    heads: int = 4


@dataclass
class DiffusionConfig:
    """The forward process: ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps``.

    ``learn_sigma``: also learn the reverse-step variance with improved DDPM's hybrid loss.
    ``process = "masked"`` is masked discrete diffusion over tokens instead
    (:class:`netdiffus.diffusion.masked.MaskedDiffusion`: ``x_t`` masks each token with
    probability ``(t + 1) / timesteps``); ``schedule``, ``prediction`` and ``learn_sigma`` then
    do not apply, and sampling unmasks over ``sample.steps`` steps.
    """

    process: Literal["gaussian", "masked"] = "gaussian"
    timesteps: int = 1000
    schedule: Literal["cosine", "linear"] = "cosine"
    prediction: Literal["eps", "v", "x0"] = "v"
    learn_sigma: bool = False


@dataclass
class TrainConfig:
    """The training loop. ``class_dropout``: the share of training examples whose class is
    replaced by the null class, so that one model learns the unconditional output that
    classifier-free guidance needs. ``novelty_every`` (0: never): every this many steps, draw a
    few traces and stop training once their novelty (distance to the training traces over the
    training traces' own spacing, :mod:`netdiffus.novelty`) falls below ``min_novelty``: the model
    has begun to replay its training traces; the weights of the last check that passed are kept.

    Differential privacy (DP-SGD, :mod:`netdiffus.privacy`, docs/privacy.md): ``dp_epsilon`` > 0
    trains with per-trace gradient clipping to ``dp_max_grad_norm``, Gaussian noise and Poisson
    sampling (expected batch ``batch_size``) so that the whole run is ``(dp_epsilon,
    dp_delta)``-differentially private for one trace; 0 (the default): no DP. ``dp_delta`` 0: 1 /
    (10 N) for N training traces. ``dp_noise_multiplier`` is set by ``fit`` (the noise that meets
    the budget in ``steps`` steps, by the ``dp_accountant``); the run's config.json records it.
    ``init_from`` (empty: none) starts the network from the weights of that run folder, trained
    on public traffic of the same kind (the same classes and network): public pre-training,
    then private fine-tuning (NetShare's recipe).

    ``max_epochs`` (0: no cap): at most this many passes over the training set, so that ``steps``
    is the budget of a large training set and a small one trains fewer steps
    (:func:`netdiffus.resolve.training_budget`; the run's config.json records the steps trained)."""

    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    ema_decay: float = 0.995
    grad_clip: float = 1.0
    precision: Literal["fp32", "bf16"] = "fp32"
    # Memory layout and graph compilation of the training step (speed only, same math).
    channels_last: bool = False
    compile: bool = False
    seed: int = 0
    checkpoint_every: int = 0
    log_every: int = 25
    num_threads: int = 0
    class_dropout: float = 0.1
    novelty_every: int = 0
    min_novelty: float = 0.9
    dp_epsilon: float = 0.0
    dp_delta: float = 0.0
    dp_max_grad_norm: float = 1.0
    dp_noise_multiplier: float = 0.0
    dp_accountant: Literal["rdp", "prv"] = "rdp"
    init_from: str = ""
    max_epochs: float = 0.0


@dataclass
class SampleConfig:
    """Sampling. ``project_x0`` replaces each predicted ``x_0`` by its nearest valid GASF at every
    step; it applies to GASF image outputs (``model.output = "image"``) and is skipped for the
    valid-GASF head, whose output is already a valid GASF. ``temperature`` divides the logits of
    masked diffusion's draws (below 1: more typical tokens; Gaussian samplers ignore it)."""

    sampler: Literal["ddim", "ddpm", "dpmpp2m", "distilled", "consistency"] = "ddim"
    steps: int = 50
    eta: float = 0.0
    guidance_scale: float = 1.0
    batch_size: int = 256
    project_x0: bool = True
    temperature: float = 1.0


@dataclass
class NetDiffusConfig:
    """A whole configuration. ``preset`` names the preset it was built from (by
    :func:`load_config`); the bare dataclass defaults are labelled ``NO_PRESET`` ("none")."""

    preset: str = NO_PRESET
    imaging: ImagingConfig = field(default_factory=ImagingConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetDiffusConfig:
        cfg = cls()
        _merge(cfg, migrate_keys(data), prefix="")
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Check every value; raise :class:`ConfigError` naming the first bad one."""
        sections = (self.imaging, self.model, self.diffusion, self.train, self.sample, self.postprocess)
        for section in sections:  # inf and nan pass (or fail) the range checks below by accident
            hints = get_type_hints(type(section))
            for f in dataclasses.fields(section):
                value = getattr(section, f.name)
                _check_type(f"{_section_name(section)}.{f.name}", value, hints[f.name])
                if hints[f.name] is float and isinstance(value, (int, float)) and not math.isfinite(value):
                    raise ConfigError(f"{_section_name(section)}.{f.name} must be a finite number (got {value!r})")
        check_seed(self.train.seed, "train.seed")
        checks = [
            ("imaging.gamma", self.imaging.gamma, 0 < self.imaging.gamma <= 100, "must be in (0, 100]"),
            ("imaging.image_size", self.imaging.image_size, 0 <= self.imaging.image_size <= MAX_IMAGE_SIZE,
             f"must be in [0, {MAX_IMAGE_SIZE}] (0: no PAA)"),
            ("model.base_channels", self.model.base_channels, 1 <= self.model.base_channels <= 1024,
             "must be in [1, 1024]"),
            ("model.channel_mult", self.model.channel_mult, 1 <= len(self.model.channel_mult) <= 8
             and all(1 <= m <= 32 for m in self.model.channel_mult), "must be a list of 1 to 8 ints in [1, 32]"),
            ("model.num_res_blocks", self.model.num_res_blocks, 1 <= self.model.num_res_blocks <= 16,
             "must be in [1, 16]"),
            ("model.attention_levels", self.model.attention_levels,
             all(0 <= a < len(self.model.channel_mult) for a in self.model.attention_levels),
             f"must be levels in [0, len(model.channel_mult)={len(self.model.channel_mult)})"),
            ("model.patch_size", self.model.patch_size, 1 <= self.model.patch_size <= 64, "must be in [1, 64]"),
            ("model.dropout", self.model.dropout, 0 <= self.model.dropout < 1, "must be in [0, 1)"),
            ("train.class_dropout", self.train.class_dropout, 0 <= self.train.class_dropout < 1, "must be in [0, 1)"),
            ("diffusion.timesteps", self.diffusion.timesteps, 2 <= self.diffusion.timesteps <= 100_000,
             "must be in [2, 100000]"),
            ("train.steps", self.train.steps, 1 <= self.train.steps <= 10**9, "must be in [1, 10**9]"),
            ("train.batch_size", self.train.batch_size, 1 <= self.train.batch_size <= MAX_BATCH,
             f"must be in [1, {MAX_BATCH}]"),
            ("train.lr", self.train.lr, 0 < self.train.lr <= 1, "must be in (0, 1]"),
            ("train.ema_decay", self.train.ema_decay, 0 <= self.train.ema_decay < 1, "must be in [0, 1)"),
            ("train.warmup_steps", self.train.warmup_steps, self.train.warmup_steps >= 0, "must be >= 0"),
            ("train.weight_decay", self.train.weight_decay, self.train.weight_decay >= 0, "must be >= 0"),
            ("train.grad_clip", self.train.grad_clip, self.train.grad_clip >= 0, "must be >= 0 (0: no clipping)"),
            ("train.checkpoint_every", self.train.checkpoint_every, self.train.checkpoint_every >= 0,
             "must be >= 0 (0: no checkpoints)"),
            ("train.log_every", self.train.log_every, self.train.log_every >= 1, "must be >= 1"),
            ("train.num_threads", self.train.num_threads, 0 <= self.train.num_threads <= 1024,
             "must be in [0, 1024] (0: torch's default)"),
            ("sample.steps", self.sample.steps, 1 <= self.sample.steps <= self.diffusion.timesteps,
             f"must be in [1, diffusion.timesteps={self.diffusion.timesteps}]"),
            ("sample.eta", self.sample.eta, self.sample.eta >= 0, "must be >= 0"),
            ("sample.guidance_scale", self.sample.guidance_scale, self.sample.guidance_scale >= 0, "must be >= 0"),
            ("sample.temperature", self.sample.temperature, 0.05 <= self.sample.temperature <= 20,
             "must be in [0.05, 20]"),
            ("sample.batch_size", self.sample.batch_size, 1 <= self.sample.batch_size <= MAX_BATCH,
             f"must be in [1, {MAX_BATCH}]"),
        ]
        if self.model.output == "gasf" and self.model.network == "unet" and (self.diffusion.prediction != "x0"
                                            or self.imaging.representation != "gasf" or self.imaging.gamma != 1):
            raise ConfigError(
                "model.output 'gasf' needs diffusion.prediction 'x0', imaging.representation 'gasf' and "
                f"imaging.gamma 1 (got {self.diffusion.prediction!r}, {self.imaging.representation!r}, "
                f"{self.imaging.gamma})"
            )
        for name, value, ok, rule in checks:
            if not ok:
                raise ConfigError(f"{name} {rule} (got {value!r})")
        _family_checks(self)
        for section in sections:
            hints = get_type_hints(type(section))
            for f in dataclasses.fields(section):
                choices = get_args(hints[f.name]) if getattr(hints[f.name], "__origin__", None) is Literal else ()
                if choices and getattr(section, f.name) not in choices:
                    sec = _section_name(section)
                    raise ConfigError(
                        f"{sec}.{f.name} must be one of {', '.join(map(str, choices))} "
                        f"(got {getattr(section, f.name)!r})"
                    )


#: Keys that moved between sections: ``old section.key -> new section.key``. Run folders, TOML
#: files and ``--set`` overrides written with the old names are read under the new ones.
MOVED_KEYS = {
    "imaging.snap_zeros": "postprocess.snap_zeros",
    "imaging.snap_values": "postprocess.snap_values",
    "imaging.calibrate_totals": "postprocess.calibrate_totals",
    "model.class_dropout": "train.class_dropout",
}


def migrate_keys(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a configuration as nested dicts) with keys of earlier versions moved to their
    current sections (``MOVED_KEYS``); a new dict, ``data`` is left alone. Where both names are
    given, the current one wins.

    >>> migrate_keys({"imaging": {"gamma": 1.0, "snap_zeros": False}})
    {'imaging': {'gamma': 1.0}, 'postprocess': {'snap_zeros': False}}
    """
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for old, new in MOVED_KEYS.items():
        (sec, key), (new_sec, new_key) = old.split("."), new.split(".")
        section = out.get(sec)
        if isinstance(section, dict) and key in section:
            value = section.pop(key)
            target = out.setdefault(new_sec, {})
            if isinstance(target, dict):
                target.setdefault(new_key, value)
    return out


def _family_checks(cfg: NetDiffusConfig) -> None:
    """The representation, the network and the process must belong together: "tokens" with the
    transformer and masked diffusion; "gasf" and "series" with the UNet and Gaussian diffusion."""
    tokens = (cfg.imaging.representation == "tokens", cfg.model.network == "transformer",
              cfg.diffusion.process == "masked")
    if any(tokens) and not all(tokens):
        raise ConfigError(
            "imaging.representation 'tokens', model.network 'transformer' and diffusion.process 'masked' go "
            f"together (got {cfg.imaging.representation!r}, {cfg.model.network!r}, {cfg.diffusion.process!r})")
    checks = [
        ("imaging.token_bins", cfg.imaging.token_bins, 1 <= cfg.imaging.token_bins <= 1024, "must be in [1, 1024]"),
        ("model.layers", cfg.model.layers, 1 <= cfg.model.layers <= 48, "must be in [1, 48]"),
        ("train.novelty_every", cfg.train.novelty_every, cfg.train.novelty_every >= 0, "must be >= 0 (0: never)"),
        ("train.min_novelty", cfg.train.min_novelty, 0 <= cfg.train.min_novelty <= 10, "must be in [0, 10]"),
        ("train.dp_epsilon", cfg.train.dp_epsilon, 0 <= cfg.train.dp_epsilon <= 1000,
         "must be in [0, 1000] (0: no DP)"),
        ("train.dp_delta", cfg.train.dp_delta, 0 <= cfg.train.dp_delta < 1, "must be in [0, 1) (0: 1 / (10 N))"),
        ("train.dp_max_grad_norm", cfg.train.dp_max_grad_norm, cfg.train.dp_max_grad_norm > 0, "must be > 0"),
        ("train.dp_noise_multiplier", cfg.train.dp_noise_multiplier, cfg.train.dp_noise_multiplier >= 0,
         "must be >= 0 (set by fit)"),
        ("imaging.range_max", cfg.imaging.range_max, cfg.imaging.range_max == 0
         or cfg.imaging.range_max > cfg.imaging.range_min, f"must be 0 (fitted) or above imaging.range_min="
         f"{cfg.imaging.range_min}"),
        ("train.max_epochs", cfg.train.max_epochs, cfg.train.max_epochs >= 0, "must be >= 0 (0: no cap)"),
        ("model.heads", cfg.model.heads, 1 <= cfg.model.heads <= 64 and cfg.model.base_channels % cfg.model.heads == 0,
         f"must be in [1, 64] and divide model.base_channels={cfg.model.base_channels}"),
    ]
    for name, value, ok, rule in checks:
        if not ok:
            raise ConfigError(f"{name} {rule} (got {value!r})")


def _check_type(name: str, value: Any, hint: Any) -> None:
    """ConfigError unless ``value`` has the field's type (set in code, not parsed from TOML)."""
    if hint is bool:
        ok, want = isinstance(value, bool), "true or false"
    elif hint is int:
        ok, want = isinstance(value, numbers.Integral) and not isinstance(value, bool), "int"
    elif hint is float:
        ok, want = isinstance(value, numbers.Real) and not isinstance(value, bool), "float"
    elif getattr(hint, "__origin__", None) is tuple:
        ok = isinstance(value, (tuple, list)) and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
        want = "a list of ints"
    else:
        return
    if not ok:
        raise ConfigError(f"{name} must be {want} (got {value!r})")


def _section_name(section: Any) -> str:
    return type(section).__name__.removesuffix("Config").lower()


def _as_int(value: Any) -> int:
    """``value`` as an int; ValueError for a bool, a float with a fraction or a non-number."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    origin = getattr(hint, "__origin__", None)
    if origin is tuple:
        raw = value
        if isinstance(value, str):
            value = [v for v in value.replace("(", "").replace(")", "").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list (got {value!r})")
        try:
            return tuple(_as_int(v) for v in value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a list of ints (got {raw!r})") from None
    if origin is Literal:
        return str(value)
    if hint is bool:
        if isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ConfigError(f"{name} must be true or false (got {value!r})")
            return value.lower() in ("true", "1")
        return bool(value)
    if hint in (int, float, str):
        try:
            return _as_int(value) if hint is int else hint(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be {hint.__name__} (got {value!r})") from None
    return value


def _merge(obj: Any, data: dict[str, Any], prefix: str) -> None:
    hints = get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown configuration key {full!r} (known: {', '.join(sorted(names))})")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{full} must be a table (got {value!r})")
            _merge(current, value, prefix=f"{full}.")
        else:
            setattr(obj, key, _coerce(full, value, hints[key]))


def _parse_override(text: str) -> dict[str, Any]:
    if "=" not in text:
        raise ConfigError(f"override must look like section.key=value (got {text!r})")
    key, raw = text.split("=", 1)
    try:
        value: Any = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    node: dict[str, Any] = {}
    cur = node
    parts = key.strip().split(".")
    for p in parts[:-1]:
        cur[p] = {}
        cur = cur[p]
    cur[parts[-1]] = value
    return node


def list_presets() -> list[str]:
    """Names of the shipped presets (``demo``, ``cpu``, ``paper``, ...)."""
    return sorted(p.name.removesuffix(".toml") for p in resources.files("netdiffus.presets").iterdir()
                  if p.name.endswith(".toml"))


def load_config(
    *,
    preset: str | None = "demo",
    file: str | Path | None = None,
    overrides: list[str] | None = None,
) -> NetDiffusConfig:
    """Build a config from a preset, then a TOML file, then ``section.key=value`` overrides.

    ``preset=None`` starts from the dataclass defaults instead of a preset file; the result is
    labelled ``preset == "none"`` (``NO_PRESET``), never as a preset it was not built from.

    Raises
    ------
    ConfigError
        Unknown preset, unreadable file, unknown key, a ``preset`` key in the file or the overrides
        (it would only relabel the run; pass ``preset``), or invalid value.
    """
    cfg = NetDiffusConfig()
    if preset is not None:
        if preset not in list_presets():
            raise ConfigError(f"unknown preset {preset!r} (available: {', '.join(list_presets())})")
        text = resources.files("netdiffus.presets").joinpath(f"{preset}.toml").read_text()
        _merge(cfg, migrate_keys(tomllib.loads(text)), prefix="")
        cfg.preset = preset
    if file is not None:
        path = Path(file)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML ({exc})") from None
        if "preset" in data:  # would only relabel the run: the values come from the preset argument
            raise ConfigError(f"config file {path} cannot set preset (got {data['preset']!r}); "
                              "choose it with --preset")
        _merge(cfg, migrate_keys(data), prefix="")
    for text in overrides or []:
        data = migrate_keys(_parse_override(text))
        if "preset" in data:
            raise ConfigError(f"preset cannot be set with an override (got {data['preset']!r}); "
                              "choose it with --preset")
        _merge(cfg, data, prefix="")
    cfg.validate()
    return cfg


DistillMethod = Literal["progressive", "reflow"]
#: The distillation methods (:mod:`netdiffus.distill` holds one function per name).
DISTILL_METHODS: tuple[str, ...] = get_args(DistillMethod)


@dataclass
class DistillConfig:
    """Settings of a distillation.

    Attributes
    ----------
    method : {"progressive", "reflow"}
    steps : int
        Sampling steps of the student (progressive: ``teacher_steps / 2**k``).
    teacher_steps : int
        Progressive: the grid the teacher starts on (2 of its steps make one of the first
        student's). Reflow: the DDIM steps that draw the pairs.
    iterations : int
        Optimizer steps per halving (progressive) or in all (reflow).
    batch_size : int
    lr : float
        Peak learning rate (AdamW; cosine decay to 10 % over each halving, or over the whole).
    ema_decay : float
        The student returned (and the next halving's teacher) is this EMA of the weights.
    pairs : int
        Reflow: the (noise, teacher sample) pairs drawn.
    seed : int
    """

    method: DistillMethod = "progressive"
    steps: int = 1
    teacher_steps: int = 16
    iterations: int = 400
    batch_size: int = 64
    lr: float = 2e-4
    ema_decay: float = 0.99
    pairs: int = 2048
    seed: int = 0

    @property
    def total_iterations(self) -> int:
        """Optimizer steps in all (progressive: ``iterations`` per halving)."""
        if self.method == "progressive":
            return self.iterations * int(round(math.log2(self.teacher_steps / self.steps)))
        return self.iterations

    @property
    def sampler(self) -> Literal["distilled"]:
        """The sampler the student is drawn with (its run's ``sample.sampler``)."""
        return "distilled"

    def validate(self) -> DistillConfig:
        """Raise :class:`ConfigError` naming the first setting out of range."""
        checks = [
            ("method", self.method, self.method in DISTILL_METHODS,
             f"must be one of {', '.join(DISTILL_METHODS)}"),
            ("steps", self.steps, isinstance(self.steps, int) and 1 <= self.steps <= 64, "must be in [1, 64]"),
            ("teacher_steps", self.teacher_steps, isinstance(self.teacher_steps, int)
             and self.steps < self.teacher_steps <= 1000, "must be > steps and <= 1000"),
            ("iterations", self.iterations, self.iterations >= 1, "must be >= 1"),
            ("batch_size", self.batch_size, self.batch_size >= 1, "must be >= 1"),
            ("lr", self.lr, math.isfinite(self.lr) and self.lr > 0, "must be > 0"),
            ("ema_decay", self.ema_decay, 0 <= self.ema_decay < 1, "must be in [0, 1)"),
            ("pairs", self.pairs, self.pairs >= 1, "must be >= 1"),
            ("seed", self.seed, isinstance(self.seed, int) and 0 <= self.seed < 2**32, "must be in [0, 2**32 - 1]"),
        ]
        for name, value, ok, rule in checks:
            if not ok:
                raise ConfigError(f"distill.{name} {rule} (got {value!r})")
        if self.method == "progressive":
            halvings = math.log2(self.teacher_steps / self.steps)
            if halvings != int(halvings):
                raise ConfigError(f"distill.teacher_steps must be steps times a power of 2 for progressive "
                                  f"distillation (got {self.teacher_steps} for {self.steps} steps)")
        return self
