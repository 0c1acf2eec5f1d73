"""netdiffus.evaluation."""
