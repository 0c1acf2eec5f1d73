"""netdiffus.cli."""
