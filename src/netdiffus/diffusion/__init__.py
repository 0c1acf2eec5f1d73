"""netdiffus.diffusion."""
