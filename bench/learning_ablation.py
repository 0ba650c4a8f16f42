"""Which defaults: one change at a time from a base configuration, on the small synthetic corpus.

Each row trains the base configuration with one group of keys changed and reports the
validation mean F1 of the last checkpoint, unsmoothed and with the run's smoothing (width chosen
on its training tracks), mean +- sd over ``--seeds`` seeds. The measurements behind the defaults
in docs/learning.md.

    uv run python bench/learning_ablation.py --group loss
    uv run python bench/learning_ablation.py --group all --seeds 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from learning import base_config, corpus_for, deep_run

# Today's behaviour before issue 13, at a CPU-friendly size: plain R-Drop CE, training-set
# standardisation, StepLR, no smoothing (what `exprnet train --encoder lstm --lr 1e-3` did).
BEFORE = {"model": {"encoder": "lstm", "d_model": 64, "hidden": 64, "head": [64], "segment": 64, "norm_first": False},
          "train": {"epochs": 12, "lr": 1e-3, "batch_size": 32, "schedule": "step", "warmup": 0.0, "grad_clip": None},
          "loss": {"class_weights": "none", "alpha": 5.0}, "data": {"normalize": "train"}, "smooth": {"kind": "none"}}

GROUPS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "loss": [
        ("plain CE (before)", {}),
        ("class_weights balanced", {"loss": {"class_weights": "balanced"}}),
        ("class_weights sqrt", {"loss": {"class_weights": "sqrt"}}),
        ("logit_adjust 1", {"loss": {"logit_adjust": 1.0}}),
        ("focal_gamma 2", {"loss": {"focal_gamma": 2.0}}),
        ("focal_gamma 2 + sqrt", {"loss": {"focal_gamma": 2.0, "class_weights": "sqrt"}}),
    ],
    "data": [
        ("balanced, normalize train", {"loss": {"class_weights": "balanced"}}),
        ("balanced, normalize track", {"loss": {"class_weights": "balanced"}, "data": {"normalize": "track"}}),
        ("balanced, normalize none", {"loss": {"class_weights": "balanced"}, "data": {"normalize": "none"}}),
    ],
    "schedule": [
        ("balanced+track, step", {"loss": {"class_weights": "balanced"}, "data": {"normalize": "track"}}),
        ("balanced+track, cosine warmup 0.05", {"loss": {"class_weights": "balanced"}, "data": {"normalize": "track"},
                                                "train": {"schedule": "cosine", "warmup": 0.05}}),
        ("balanced+track, cosine, no R-Drop", {"loss": {"class_weights": "balanced", "rdrop": False},
                                               "data": {"normalize": "track"},
                                               "train": {"schedule": "cosine", "warmup": 0.05}}),
    ],
    "transformer": [
        ("issue's Transformer (d128, 2 layers, post-norm, StepLR)",
         {"model": {"encoder": "transformer", "d_model": 128, "hidden": 512, "layers": 2, "segment": 128}}),
        ("+ balanced + track", {"model": {"encoder": "transformer", "d_model": 128, "hidden": 512, "layers": 2,
                                          "segment": 128},
                                "loss": {"class_weights": "balanced"}, "data": {"normalize": "track"}}),
        ("+ pre-norm, cosine, warmup 0.1", {"model": {"encoder": "transformer", "d_model": 128, "hidden": 512,
                                                      "layers": 2, "segment": 128, "norm_first": True},
                                            "loss": {"class_weights": "balanced"}, "data": {"normalize": "track"},
                                            "train": {"schedule": "cosine", "warmup": 0.1}}),
        ("+ small (d64, ff128)", {"model": {"encoder": "transformer", "d_model": 64, "hidden": 128, "layers": 2,
                                            "segment": 128, "norm_first": True},
                                  "loss": {"class_weights": "balanced"}, "data": {"normalize": "track"},
                                  "train": {"schedule": "cosine", "warmup": 0.1}}),
    ],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--group", choices=(*GROUPS, "all"), default="all")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "exprnet-bench-learning")
    a = ap.parse_args()
    c = corpus_for(a.work / "small" / "corpus", "small")
    lines = ["| change from before | unsmoothed F1 | with smoothing (box, auto) | s/run |", "|---|---|---|---|"]
    for group in GROUPS if a.group == "all" else (a.group,):
        for name, change in GROUPS[group]:
            raw, sm, secs = [], [], []
            for seed in range(a.seeds):
                t0 = time.perf_counter()
                layers = [base_config(c, a.threads), BEFORE, change, {"train": {"seed": seed}, "smooth": {"kind": "box"}}]
                f1, r, _, _ = deep_run(c, layers, a.work / "ablation" / f"{group}-{len(lines)}-s{seed}")
                raw.append(r)
                sm.append(f1)
                secs.append(time.perf_counter() - t0)
            lines.append(f"| {group}: {name} | {np.mean(raw):.3f} ± {np.std(raw):.3f} | "
                         f"{np.mean(sm):.3f} ± {np.std(sm):.3f} | {np.mean(secs):.0f} |")
            print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
