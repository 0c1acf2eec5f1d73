"""Training and sampling speed of the netdiffus model on this machine (not a test).

    python -m benchmarks.model_speed [--preset cpu] [--threads 2] [--device cuda]
        [--out benchmarks/results/model-speed.md]

Measures, in one run:
- the machine's matmul peak (fp32 and bf16, large square matmuls);
- training throughput (images/s, median of timed steps after warm-up) of the preset's UNet on
  random 60 x 60 batches (the GASF size) in fp32 and in bf16 autocast, contiguous and
  channels_last (and, with ``--compile``, torch.compile'd), and the model's FLOP/s (counted with
  torch.utils.flop_counter) as a fraction of the measured peak;
- sampling throughput (series/s) of DDPM-1000, DDIM-50, DDIM-20 and DPM-Solver++(2M)-20 on a
  batch of 64.

With ``--device cuda`` the same measurements run on the GPU (its matmul peak from 8192-square
products, every timing after a synchronise).

All timings use an untrained model (random weights) built from the preset: speed only, no scores.
Sampling quality per sampler needs a trained model, which this script does not take:
``python -m benchmarks.sampler_tradeoff RUN [--b1]`` times and scores each sampler on a fitted run
folder (as ``netdiffus demo`` writes, or, with ``--b1``, as ``python -m benchmarks.preset_b1 --run
RUN`` keeps; ``make bench`` keeps none).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from netdiffus.config import load_config
from netdiffus.diffusion.process import GaussianDiffusion
from netdiffus.diffusion.samplers import sample
from netdiffus.diffusion.unet import UNet

CPU = torch.device("cpu")


def _sync(device: torch.device) -> None:
    """Wait for the device's queued work: GPU timings end when the kernels end."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 5, device: torch.device = CPU) -> float:
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    a @ b
    _sync(device)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times)


def build(cfg, in_channels=1, num_classes=4):
    m = cfg.model
    return UNet(in_channels=in_channels, num_classes=num_classes, base_channels=m.base_channels, output=m.output,
                out_channels=in_channels * (2 if cfg.diffusion.learn_sigma else 1),
                channel_mult=m.channel_mult, num_res_blocks=m.num_res_blocks,
                attention_levels=m.attention_levels, dropout=m.dropout, patch_size=m.patch_size,
                symmetric_output=m.symmetric_output,
                gasf_head="patch" if m.gasf_head == "auto" else m.gasf_head)  # auto: patch on video series


def train_speed(cfg, precision: str, *, channels_last: bool = False, compile: bool = False, size: int = 60,
                steps: int = 12, device: torch.device = CPU) -> tuple[float, float]:
    torch.manual_seed(0)
    net = build(cfg).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    bs = cfg.train.batch_size
    x = torch.rand(bs, 1, size, size, device=device) * 2 - 1
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    t = torch.randint(0, 1000, (bs,), device=device)
    y = torch.randint(0, 5, (bs,), device=device)
    fc = FlopCounterMode(display=False)
    with fc:
        net(x, t, y=y).pow(2).mean().backward()
    flops_per_step = fc.get_total_flops()
    step_net = torch.compile(net) if compile else net  # compiles during the two untimed warm-up steps
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = step_net(x, t, y=y).float().pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        _sync(device)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    dt = statistics.median(times)
    return bs / dt, flops_per_step / dt


def sample_speed(cfg, sampler: str, steps: int, n: int = 64, size: int = 60, device: torch.device = CPU) -> float:
    torch.manual_seed(0)
    net = build(cfg).to(device).eval()
    p = GaussianDiffusion(timesteps=cfg.diffusion.timesteps, schedule=cfg.diffusion.schedule,
                          prediction=cfg.diffusion.prediction, learn_sigma=cfg.diffusion.learn_sigma)
    y = torch.randint(0, 4, (n,), device=device)
    _sync(device)
    t0 = time.perf_counter()
    sample(net, p, shape=(1, size, size), y=y, seeds=list(range(n)), null_class=4, sampler=sampler, steps=steps)
    _sync(device)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/model-speed.md"))
    ap.add_argument("--skip-ddpm", action="store_true", help="skip the 1000-step sampler")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile'd training steps")
    ap.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    ap.add_argument("--size", type=int, default=60, help="image side (default: 60, the videoTrain GASF)")
    ap.add_argument("--sample-batch", type=int, default=64, help="series per sampling batch (default: 64)")
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(preset=args.preset)
    if device.type == "cuda":
        machine = f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    else:
        machine = (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
                   f"torch {torch.__version__}")
    lines = [f"# Model speed: preset `{args.preset}`", "",
             f"Machine: {machine}. Image {args.size} x {args.size}, training batch {cfg.train.batch_size}. "
             f"Date: {time.strftime('%Y-%m-%d')}.", ""]
    n_peak = 8192 if device.type == "cuda" else 2048
    peak = {p: matmul_peak(d, n=n_peak, device=device) for p, d in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    lines += ["| precision | layout | compiled | matmul peak GFLOP/s | train images/s | model GFLOP/s "
              "| fraction of peak |",
              "|---|---|---|---|---|---|---|"]
    variants = [(False, False), (True, False)] + ([(False, True)] if args.compile else [])
    for prec in ("fp32", "bf16"):
        for cl, comp in variants:
            ips, fps = train_speed(cfg, prec, channels_last=cl, compile=comp, size=args.size, device=device)
            lines.append(f"| {prec} | {'channels_last' if cl else 'contiguous'} | {'yes' if comp else 'no'} | "
                         f"{peak[prec] / 1e9:.0f} | {ips:.0f} | {fps / 1e9:.0f} | {fps / peak[prec]:.2f} |")
    lines += ["", f"| sampler | steps | series/s (batch {args.sample_batch}) |", "|---|---|---|"]
    for sampler, steps in (("ddpm", 1000), ("ddim", 50), ("ddim", 20), ("dpmpp2m", 20)):
        if sampler == "ddpm" and args.skip_ddpm:
            continue
        lines.append(f"| {sampler} | {steps} | "
                     f"{sample_speed(cfg, sampler, steps, n=args.sample_batch, size=args.size, device=device):.2f} |")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
