"""Configuration presets shipped with netdiffus (TOML); see netdiffus.config."""
