"""netdiffus.diffusion: the generative model, one concept per module.

- :mod:`~netdiffus.diffusion.schedule`: noise schedules ``alpha_bar`` ``[T]`` (float64 numpy).
- :mod:`~netdiffus.diffusion.process`: :class:`GaussianDiffusion`, forward noising, training
  target and loss; no weights (the model is passed in).
- :mod:`~netdiffus.diffusion.unet`: :class:`UNet`, weights only: a trunk and an output head.
- :mod:`~netdiffus.diffusion.steps`: one step function per sampler and their registry, ``SAMPLERS``.
- :mod:`~netdiffus.diffusion.samplers`: :func:`sample`, the one loop every sampler runs in.

Layering: diffusion imports :mod:`netdiffus.config` (for its defaults) and, from imaging, only
:mod:`netdiffus.imaging.kernels` (the GASF formula of the UNet's valid-GASF head).
"""
