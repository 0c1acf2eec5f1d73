"""What B1's privacy figures can reach with real data (not a test).

    python -m benchmarks.privacy_reference [--repeats 20] [--out FILE]

B1 splits by video, and its training set holds several sessions of each training video. A video
is a (class, video number) pair, as in the B1 split itself (videoTrain reuses the numbers 1..50 in
each class). Two reference "generators" made of real sessions, each scored by ``DCR_ratio`` and
``MIA_AUC`` against the real test split, over ``--repeats`` random splits of the training set:

- ``within-video``: half of each training video's sessions are the members (the training set
  the attack targets); the other half stand in for a perfect generator that draws new sessions of
  the training videos. This is where a faithful generator of the training videos is expected to
  score.
- ``by-video``: half of the training videos are the members, the other half's sessions stand in
  for the generator: traces of videos the members do not contain.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.datasets import load_b1, video_id
from netdiffus.evaluation.privacy import dcr_ratio, mia_auc


def within_video_split(videos: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (members, stand-in) with half of each video's sessions on each side (a single
    session stays a member)."""
    members, stand_in = [], []
    for v in sorted(set(videos)):
        idx = rng.permutation(np.flatnonzero(videos == v))
        h = max(1, len(idx) // 2)
        members += list(idx[:h])
        stand_in += list(idx[h:])
    return np.array(members), np.array(stand_in)


def by_video_split(videos: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (members, stand-in) with half of the videos on each side."""
    uniq = rng.permutation(sorted(set(videos)))
    first = set(uniq[: len(uniq) // 2])
    mask = np.array([v in first for v in videos])
    return np.flatnonzero(mask), np.flatnonzero(~mask)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20, help="random splits per reference (default 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None,
                    help="results markdown (default benchmarks/results/<date>-privacy-reference.md; '-' for none)")
    args = ap.parse_args()
    b = load_b1()
    train, test = b.train.series, b.test.series
    # a video is a (class, video number) pair, as in the B1 split (split_by_video): videoTrain reuses
    # the numbers 1..50 in each class. Each pair gets an integer code (in sorted pair order).
    keys = list(zip(b.train.labels, (video_id(i) for i in b.train.ids), strict=True))
    code = {k: j for j, k in enumerate(sorted(set(keys)))}
    videos = np.array([code[k] for k in keys])
    rng = np.random.default_rng(args.seed)
    rows, stand_in_sizes = [], []
    for name, split in (("within-video", within_video_split), ("by-video", by_video_split)):
        mia, dcr = [], []
        for _ in range(args.repeats):
            m, s = split(videos, rng)
            stand_in_sizes.append(len(s))
            mia.append(mia_auc(train[m], test, train[s]))
            dcr.append(dcr_ratio(train[m], train[s], test))
        rows.append((name, np.array(mia), np.array(dcr)))
        print(f"{name}: MIA_AUC {np.mean(mia):.3f} ({min(mia):.3f}-{max(mia):.3f}), "
              f"DCR_ratio {np.mean(dcr):.3f} ({min(dcr):.3f}-{max(dcr):.3f})", flush=True)  # fmt: skip
    if str(args.out) == "-":
        return
    out = args.out or Path("benchmarks/results") / f"{time.strftime('%Y-%m-%d')}-privacy-reference.md"
    lines = [
        "# B1: what the privacy figures can reach with real sessions", "",
        f"Command: `python -m benchmarks.privacy_reference --repeats {args.repeats} --seed {args.seed}`. "
        f"{len(videos)} training sessions of {len(set(videos))} videos ((class, video number) pairs), "
        f"{len(test)} test sessions (other videos). Mean (min-max) over the random splits. The stand-in "
        f"sets hold {min(stand_in_sizes)}-{max(stand_in_sizes)} traces, a generator's 884 in the B1 protocol: "
        "the attack's reference set is smaller here.", "",
        "| reference | members | stand-in generator | MIA_AUC | DCR_ratio |", "|---|---|---|---|---|",
    ]  # fmt: skip
    what = {"within-video": ("half of each training video's sessions", "the other half (same videos)"),
            "by-video": ("half of the training videos", "the other videos' sessions")}  # fmt: skip
    for name, mia, dcr in rows:
        lines.append(f"| {name} | {what[name][0]} | {what[name][1]} "
                     f"| {mia.mean():.3f} ({mia.min():.3f}-{mia.max():.3f})"
                     f" | {dcr.mean():.3f} ({dcr.min():.3f}-{dcr.max():.3f}) |")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
