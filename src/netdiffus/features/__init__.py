"""netdiffus.features."""
