import pytest

from netdiffus.config import NetDiffusConfig, list_presets, load_config
from netdiffus.errors import ConfigError


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
        (dict(preset="nope"), "unknown preset 'nope' (available: cpu, demo, paper"),
        (dict(overrides=["train.steps=0"]), "train.steps must be >= 1 (got 0)"),
        (dict(overrides=["train.lr=-1"]), "train.lr must be > 0 (got -1.0)"),
        (dict(overrides=["train.colour=3"]), "unknown configuration key 'train.colour'"),
        (dict(overrides=["diffusion.schedule=\"square\""]), "diffusion.schedule must be one of cosine, linear (got 'square')"),
        (dict(overrides=["sample.steps=5000"]), "sample.steps must be in [1, diffusion.timesteps=1000] (got 5000)"),
        (dict(overrides=["train.steps"]), "override must look like section.key=value (got 'train.steps')"),
        (dict(overrides=["train.steps=1.5"]), "train.steps must be int (got 1.5)"),
        (dict(file="/nonexistent.toml"), "config file /nonexistent.toml does not exist"),
    ],
)
def test_bad_config_messages(kwargs, message):
    with pytest.raises(ConfigError) as exc:
        load_config(**kwargs)
    assert str(exc.value).startswith(message)


def test_gasf_output_needs_x0_prediction():
    with pytest.raises(ConfigError) as exc:
        load_config(preset="demo", overrides=['model.output="gasf"', 'diffusion.prediction="v"'])
    assert str(exc.value) == ("model.output 'gasf' needs diffusion.prediction 'x0', imaging.representation 'gasf' "
                              "and imaging.gamma 1 (got 'v', 'gasf', 1.0)")
