"""The Gaussian diffusion process (schedule, noising, target, loss). Holds no network weights: the
model is passed in.

Forward: ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps``. The network predicts either
``eps`` or ``v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0`` (Salimans & Ho); both convert
to a prediction of ``x_0`` and ``eps``.

With ``learn_sigma`` (improved DDPM, Nichol & Dhariwal; the NetDiffus paper's setting) the network
also outputs, in C more channels, ``v_sigma`` in [-1, 1] that interpolates the reverse-step log
variance between ``log beta_tilde_t`` and ``log beta_t``, and the loss is the hybrid
``L_simple + L_vlb`` (the KL term in bits, with the mean held fixed so it trains only the variance).

Examples
--------
>>> import torch
>>> p = GaussianDiffusion(timesteps=100, schedule="cosine", prediction="v")
>>> x_0 = torch.zeros(2, 1, 4, 4); eps = torch.randn(2, 1, 4, 4)
>>> t = torch.tensor([10, 90])
>>> x_t = p.q_sample(x_0, t, eps)
>>> v = p.target(x_0, t, eps)
>>> torch.allclose(p.predict_x0(x_t, t, v), x_0, atol=1e-5)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from netdiffus.config import DiffusionConfig
from netdiffus.diffusion.schedule import ScheduleName, alpha_bar_schedule
from netdiffus.errors import ConfigError

__all__ = ["GaussianDiffusion", "Prediction"]

Prediction = Literal["eps", "v", "x0"]

#: Min-SNR-gamma loss weighting for x0 prediction (Hang et al., 2023): weight ``min(SNR, 5)``.
MIN_SNR_GAMMA = 5.0


def _bcast(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Gather-ed per-sample scalars ``[N]`` -> ``[N, 1, ..., 1]`` matching ``x``."""
    return a.to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))


class GaussianDiffusion:
    """Schedule, forward noising, training target and loss.

    Defaults are those of :class:`~netdiffus.config.DiffusionConfig` (built from it by
    :meth:`from_config`).

    Parameters
    ----------
    timesteps : int
        Number of diffusion steps T.
    schedule : {"cosine", "linear"}
    prediction : {"eps", "v", "x0"}
        What the network outputs.
    learn_sigma : bool
        The network also outputs ``v_sigma`` (C more channels), the reverse-step variance.
    """

    def __init__(self, *, timesteps: int = DiffusionConfig.timesteps, schedule: ScheduleName = DiffusionConfig.schedule,
                 prediction: Prediction = DiffusionConfig.prediction, learn_sigma: bool = DiffusionConfig.learn_sigma):
        if prediction not in ("eps", "v", "x0"):
            raise ConfigError(f"prediction must be 'eps', 'v' or 'x0' (got {prediction!r})")
        self.timesteps = timesteps
        self.prediction = prediction
        self.learn_sigma = learn_sigma
        self.alpha_bar_np = alpha_bar_schedule(schedule, timesteps)
        self.alpha_bar = torch.from_numpy(self.alpha_bar_np)  # float64 [T]

    @classmethod
    def from_config(cls, diffusion_cfg: DiffusionConfig) -> GaussianDiffusion:
        """The process of configuration ``diffusion_cfg``."""
        d = diffusion_cfg
        return cls(timesteps=d.timesteps, schedule=d.schedule, prediction=d.prediction, learn_sigma=d.learn_sigma)

    def _ab(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _bcast(self.alpha_bar.to(t.device)[t], x)

    def q_sample(self, x_0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Noise ``x_0`` ``[N, ...]`` to step ``t`` ``[N]`` (long) with noise ``eps``."""
        ab = self._ab(t, x_0)
        return ab.sqrt() * x_0 + (1 - ab).sqrt() * eps

    def target(self, x_0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """What the network should output at ``(x_t, t)``: ``eps`` or ``v``."""
        if self.prediction == "eps":
            return eps
        if self.prediction == "x0":
            return x_0
        ab = self._ab(t, x_0)
        return ab.sqrt() * eps - (1 - ab).sqrt() * x_0

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self.prediction == "x0":
            return out
        ab = self._ab(t, x_t)
        if self.prediction == "eps":
            return (x_t - (1 - ab).sqrt() * out) / ab.sqrt()
        return ab.sqrt() * x_t - (1 - ab).sqrt() * out

    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self.prediction == "x0":
            return self.eps_from_x0(x_t, t, out)
        ab = self._ab(t, x_t)
        if self.prediction == "eps":
            return out
        return (1 - ab).sqrt() * x_t + ab.sqrt() * out

    def eps_from_x0(self, x_t: torch.Tensor, t: torch.Tensor, x_0: torch.Tensor) -> torch.Tensor:
        ab = self._ab(t, x_t)
        return (x_t - ab.sqrt() * x_0) / (1 - ab).sqrt()

    def training_loss(
        self,
        model: Callable[..., torch.Tensor],
        x_0: torch.Tensor,
        *,
        y: torch.Tensor,
        t: torch.Tensor | None = None,
        eps: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Mean squared error of the network output against :meth:`target` (a scalar).

        ``x_0`` ``[N, C, ...]`` in [-1, 1]; ``y`` ``[N]`` class indices (null class included);
        ``t`` ``[N]`` and ``eps`` (like ``x_0``) are drawn from ``generator`` when not given.
        """
        n = x_0.shape[0]
        if t is None:
            t = torch.randint(0, self.timesteps, (n,), generator=generator, device=x_0.device)
        if eps is None:
            eps = torch.randn(x_0.shape, generator=generator, device=x_0.device, dtype=x_0.dtype)
        x_t = self.q_sample(x_0, t, eps)
        out = model(x_t, t, y=y).float()
        out, v_sigma = self.split_output(out)
        err = (out - self.target(x_0, t, eps).float()) ** 2
        if self.prediction == "x0":
            ab = self._ab(t, x_0).float()
            err = err * torch.clamp(ab / (1 - ab), max=MIN_SNR_GAMMA)
        mse = torch.mean(err)
        if v_sigma is None:
            return mse
        # L_vlb trains the variance only: the mean comes from the detached prediction.
        ab_t = self._ab(t, x_0).float()
        ab_prev = _bcast(torch.where(t > 0, self.alpha_bar.to(t.device)[(t - 1).clamp_min(0)],
                                     torch.ones((), dtype=torch.float64, device=t.device)), x_0).float()
        x_0_hat = self.predict_x0(x_t, t, out.detach()).clamp(-1, 1)
        true_mean, true_logvar = self.posterior(x_0.float(), x_t.float(), ab_t, ab_prev)
        model_mean, _ = self.posterior(x_0_hat, x_t.float(), ab_t, ab_prev)
        model_logvar = self.model_log_variance(v_sigma, ab_t, ab_prev)
        kl = 0.5 * (-1.0 + model_logvar - true_logvar + torch.exp(true_logvar - model_logvar)
                    + (true_mean - model_mean) ** 2 * torch.exp(-model_logvar))
        vlb = kl.mean() / np.log(2.0)
        return mse + vlb * self.timesteps / 1000.0

    # -- learned variance ----------------------------------------------------------------------
    def split_output(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Network output ``[N, C(*2), ...]`` -> (mean part, ``v_sigma`` or None)."""
        if not self.learn_sigma:
            return out, None
        mean, v_sigma = out.chunk(2, dim=1)
        return mean, v_sigma.clamp(-1.0, 1.0)

    @staticmethod
    def posterior(x_0: torch.Tensor, x_t: torch.Tensor, ab_t, ab_prev) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log variance of ``q(x_prev | x_t, x_0)`` between two (respaced) steps."""
        ab_t = torch.as_tensor(ab_t, dtype=x_t.dtype, device=x_t.device)
        ab_prev = torch.as_tensor(ab_prev, dtype=x_t.dtype, device=x_t.device)
        beta = 1 - ab_t / ab_prev
        mean = (beta * ab_prev.sqrt() / (1 - ab_t)) * x_0 + ((1 - ab_prev) * (1 - beta).sqrt() / (1 - ab_t)) * x_t
        var = beta * (1 - ab_prev) / (1 - ab_t)
        # beta_tilde is 0 at the last step; clip it to the next one's as improved DDPM does.
        logvar = torch.log(torch.clamp(var, min=1e-20).expand_as(x_t))
        return mean, logvar

    @staticmethod
    def model_log_variance(v_sigma: torch.Tensor, ab_t, ab_prev) -> torch.Tensor:
        """``frac log beta + (1 - frac) log beta_tilde`` with ``frac = (v_sigma + 1) / 2``."""
        ab_t = torch.as_tensor(ab_t, dtype=v_sigma.dtype, device=v_sigma.device)
        ab_prev = torch.as_tensor(ab_prev, dtype=v_sigma.dtype, device=v_sigma.device)
        beta = (1 - ab_t / ab_prev).clamp_min(1e-20)
        beta_tilde = (beta * (1 - ab_prev) / (1 - ab_t)).clamp_min(1e-20)
        # at the last step beta_tilde = 0: use beta there as the lower end too
        beta_tilde = torch.where(beta_tilde <= 1e-19, beta, beta_tilde)
        frac = (v_sigma + 1) / 2
        return frac * torch.log(beta) + (1 - frac) * torch.log(beta_tilde)

    def timestep_spacing(self, steps: int, *, trailing: bool = False) -> np.ndarray:
        """``steps`` evenly spaced timesteps, descending from T - 1 to 0 (int64).

        ``trailing``: the ``steps + 1`` evenly spaced points from T - 1 to 0 without the last, so
        that one step starts from pure noise at T - 1 (the first and only model call of a
        one-step sampler) and the last starts at about ``T / steps``; the grid of ``2 steps``
        holds it (progressive distillation halves the steps on nested grids).

        >>> p = GaussianDiffusion(timesteps=1000)
        >>> p.timestep_spacing(4).tolist(), p.timestep_spacing(4, trailing=True).tolist()
        ([999, 666, 333, 0], [999, 749, 500, 250])
        >>> p.timestep_spacing(1).tolist(), p.timestep_spacing(1, trailing=True).tolist()
        ([0], [999])
        """
        if not 1 <= steps <= self.timesteps:
            raise ConfigError(f"steps must be in [1, {self.timesteps}] (got {steps})")
        points = np.linspace(0, self.timesteps - 1, steps + 1 if trailing else steps)[int(trailing):]
        return np.unique(points.round().astype(np.int64))[::-1].copy()
