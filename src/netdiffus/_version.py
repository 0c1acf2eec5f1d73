"""The version of netdiffus (model.json records the one that saved a run)."""

__version__ = "0.1.0"
