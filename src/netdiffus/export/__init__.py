"""netdiffus.export."""
