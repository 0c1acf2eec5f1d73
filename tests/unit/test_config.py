import pytest

from netdiffus.config import NetDiffusConfig, list_presets, load_config
from netdiffus.errors import ConfigError
from netdiffus.synthesizer import TrafficSynthesizer


def test_presets_shipped():
    assert {"demo", "cpu", "paper"} <= set(list_presets())


@pytest.mark.parametrize("preset", ["demo", "cpu", "paper"])
def test_preset_round_trips_through_json(preset):
    cfg = load_config(preset=preset)
    assert cfg.preset == preset
    assert NetDiffusConfig.from_dict(cfg.to_dict()) == cfg


def test_overrides_are_typed():
    cfg = load_config(preset="demo", overrides=["train.steps=7", "model.channel_mult=[1, 3]",
                                                "sample.guidance_scale=2", "model.symmetric_output=false"])
    assert cfg.train.steps == 7
    assert cfg.model.channel_mult == (1, 3)
    assert cfg.sample.guidance_scale == 2.0
    assert cfg.model.symmetric_output is False


def test_toml_file_applies_on_top(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[train]\nsteps = 11\n")
    assert load_config(preset="cpu", file=f).train.steps == 11


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(preset="nope"), "unknown preset 'nope' (available: cpu, demo, packets, paper"),
        (dict(overrides=["train.steps=0"]), "train.steps must be in [1, 10**9] (got 0)"),
        (dict(overrides=["train.lr=-1"]), "train.lr must be in (0, 1] (got -1.0)"),
        (dict(overrides=["train.lr=1e38"]), "train.lr must be in (0, 1] (got 1e+38)"),
        (dict(overrides=["train.colour=3"]), "unknown configuration key 'train.colour'"),
        (dict(overrides=["diffusion.schedule=\"square\""]),
         "diffusion.schedule must be one of cosine, linear (got 'square')"),
        (dict(overrides=["sample.steps=5000"]), "sample.steps must be in [1, diffusion.timesteps=1000] (got 5000)"),
        (dict(overrides=["train.steps"]), "override must look like section.key=value (got 'train.steps')"),
        (dict(overrides=["train.steps=1.5"]), "train.steps must be int (got 1.5)"),
        (dict(file="/nonexistent.toml"), "config file /nonexistent.toml does not exist"),
        # list values: every element an int
        (dict(overrides=["model.channel_mult=abc"]), "model.channel_mult must be a list of ints (got 'abc')"),
        (dict(overrides=["model.attention_levels=x"]), "model.attention_levels must be a list of ints (got 'x')"),
        (dict(overrides=["model.channel_mult=[1, 2.5]"]), "model.channel_mult must be a list of ints (got [1, 2.5])"),
        (dict(overrides=['model.channel_mult=[1, "b"]']), "model.channel_mult must be a list of ints (got [1, 'b'])"),
        (dict(overrides=["model.channel_mult=[1, 2]", "model.attention_levels=[2]"]),
         "model.attention_levels must be levels in [0, len(model.channel_mult)=2) (got (2,))"),
        (dict(overrides=["train.steps=true"]), "train.steps must be int (got True)"),
        # integer and float fields without a bound before
        (dict(overrides=["train.log_every=0"]), "train.log_every must be >= 1 (got 0)"),
        (dict(overrides=["train.num_threads=-1"]),
         "train.num_threads must be in [0, 1024] (0: torch's default) (got -1)"),
        (dict(overrides=["train.checkpoint_every=-1"]),
         "train.checkpoint_every must be >= 0 (0: no checkpoints) (got -1)"),
        (dict(overrides=["train.weight_decay=-0.1"]), "train.weight_decay must be >= 0 (got -0.1)"),
        (dict(overrides=["train.grad_clip=-1"]), "train.grad_clip must be >= 0 (0: no clipping) (got -1.0)"),
        # differential privacy and the given scaling range
        (dict(overrides=["train.dp_epsilon=-1"]), "train.dp_epsilon must be in [0, 1000] (0: no DP) (got -1.0)"),
        (dict(overrides=["train.dp_delta=1"]), "train.dp_delta must be in [0, 1) (0: 1 / (10 N)) (got 1.0)"),
        (dict(overrides=["train.dp_max_grad_norm=0"]), "train.dp_max_grad_norm must be > 0 (got 0.0)"),
        (dict(overrides=["train.dp_noise_multiplier=-1"]),
         "train.dp_noise_multiplier must be >= 0 (set by fit) (got -1.0)"),
        (dict(overrides=['train.dp_accountant="gdp"']), "train.dp_accountant must be one of rdp, prv (got 'gdp')"),
        (dict(overrides=["imaging.range_min=10", "imaging.range_max=5"]),
         "imaging.range_max must be 0 (fitted) or above imaging.range_min=10.0 (got 5.0)"),
        (dict(overrides=["train.dp_epsilon=inf"]), "train.dp_epsilon must be a finite number (got inf)"),
        # floats must be finite: inf passed the range checks, nan failed them with a misleading rule
        (dict(overrides=["train.lr=inf"]), "train.lr must be a finite number (got inf)"),
        (dict(overrides=["train.lr=nan"]), "train.lr must be a finite number (got nan)"),
        (dict(overrides=["imaging.gamma=inf"]), "imaging.gamma must be a finite number (got inf)"),
        (dict(overrides=["model.dropout=nan"]), "model.dropout must be a finite number (got nan)"),
        (dict(overrides=["train.class_dropout=-inf"]), "train.class_dropout must be a finite number (got -inf)"),
        (dict(overrides=["train.weight_decay=inf"]), "train.weight_decay must be a finite number (got inf)"),
        (dict(overrides=["train.ema_decay=nan"]), "train.ema_decay must be a finite number (got nan)"),
        (dict(overrides=["train.grad_clip=inf"]), "train.grad_clip must be a finite number (got inf)"),
        (dict(overrides=["sample.eta=inf"]), "sample.eta must be a finite number (got inf)"),
        (dict(overrides=["sample.guidance_scale=inf"]), "sample.guidance_scale must be a finite number (got inf)"),
        # seeds: numpy and torch take [0, 2**32 - 1]
        (dict(overrides=["train.seed=-1"]), "train.seed must be an integer from 0 to 2**32 - 1 (got -1)"),
        (dict(overrides=["train.seed=4294967296"]),
         "train.seed must be an integer from 0 to 2**32 - 1 (got 4294967296)"),
        # the preset comes from the preset argument: an override would only relabel the run
        (dict(overrides=["preset=paper"]),
         "preset cannot be set with an override (got 'paper'); choose it with --preset"),
    ],
)
def test_bad_config_messages(kwargs, message):
    with pytest.raises(ConfigError) as exc:
        load_config(**kwargs)
    assert str(exc.value).startswith(message)


def test_largest_seed_is_accepted():
    assert load_config(overrides=["train.seed=4294967295"]).train.seed == 2**32 - 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: load_config(preset=None),
        lambda: load_config(preset=None, overrides=["train.steps=5"]),
        NetDiffusConfig,
        lambda: NetDiffusConfig.from_dict({"train": {"steps": 5}}),
        lambda: TrafficSynthesizer.from_preset(None, progress=False).config,
    ],
)
def test_without_a_preset_the_label_says_none(make):
    # The dataclass defaults are not the demo preset (which, e.g., uses the valid-GASF head):
    # a run built from them must not claim to be one.
    cfg = make()
    assert cfg.preset == "none"
    assert cfg.model.output == "image" and load_config(preset="demo").model.output == "gasf"
    assert NetDiffusConfig.from_dict(cfg.to_dict()).preset == "none"


def test_preset_in_a_config_file_is_refused(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('preset = "paper"\n')
    with pytest.raises(ConfigError) as exc:
        load_config(preset="demo", file=f)
    assert str(exc.value) == f"config file {f} cannot set preset (got 'paper'); choose it with --preset"


def test_gasf_output_needs_x0_prediction():
    with pytest.raises(ConfigError) as exc:
        load_config(preset="demo", overrides=['model.output="gasf"', 'diffusion.prediction="v"'])
    assert str(exc.value) == ("model.output 'gasf' needs diffusion.prediction 'x0', imaging.representation 'gasf' "
                              "and imaging.gamma 1 (got 'v', 'gasf', 1.0)")
