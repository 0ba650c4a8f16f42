"""Each deviation of exprnet from the paper, switched on alone in a paper preset, on the demo corpus.

The paper's LSTM (t1-r8) and Transformer (t1-r1) run with every deviation off (the presets as
shipped), then with one deviation on at a time, then with all of exprnet's defaults; each over
``--seeds`` seeds, side by side in one run. Inputs are the demo store's stand-ins
(``exprnet reproduce --standin demo``) and the widths are scaled to the demo corpus (``--width``,
segment 32), as in docs/reproduce.md. Printed: validation F1 at the best and at the last epoch
(mean over seeds) and each deviation's difference from paper mode.

    uv run python bench/paper_deviations.py --store demo/features.zarr --labels demo/data/annotations
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from exprnet.config import build_config
from exprnet.config.presets import load_preset
from exprnet.paper.plan import DEMO_STANDINS
from exprnet.paper.tables import paper_rows
from exprnet.training.experiment import execute

SEGMENT = 32
# name, config layer, encoders it applies to
DEVIATIONS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("fusion + ReLU + dropout, with bias", {"model": {"fusion": "linear_act_dropout", "fusion_bias": True}},
     ("lstm", "transformer")),
    ("dropout after the positions", {"model": {"pos_dropout": True}}, ("transformer",)),
    ("dropout 0.3 in the head", {"model": {"head_dropout": None}}, ("lstm", "transformer")),
    ("overlapping inference (stride l/2)", {"model": {"infer_stride": SEGMENT // 2}}, ("transformer",)),
    ("-1 frames kept as context", {"data": {"unlabelled": "context"}}, ("lstm", "transformer")),
    ("last segment: masked zeros", {"data": {"pad": "mask"}}, ("lstm", "transformer")),
    ("mixed precision (CUDA only)", {"train": {"amp": True}}, ("lstm", "transformer")),
    ("exprnet's wd 0, StepLR(10, 0.5), batch 32",
     {"train": {"weight_decay": 0.0, "step_size": 10, "gamma": 0.5, "batch_size": 32}}, ("lstm", "transformer")),
]


def all_defaults(encoder: str) -> dict[str, Any]:
    """Every deviation above at once: exprnet's defaults on the paper's rows."""
    out: dict[str, Any] = {}
    for _, layer, encoders in DEVIATIONS:
        if encoder in encoders:
            for sec, kv in layer.items():
                out.setdefault(sec, {}).update(kv)
    return out


def config(preset: str, store: str, labels: str, width: int, seed: int, layer: dict[str, Any], epochs: int):
    row = next(r for r in paper_rows() if r.preset == preset)
    features = list(dict.fromkeys(DEMO_STANDINS.get(f, f) for f in row.features))
    return build_config(load_preset(preset), {
        "data": {"store": store, "labels": labels, "features": features},
        "model": {"d_model": width, "hidden": width, "head": [width, width // 2], "segment": SEGMENT,
                  "infer_stride": SEGMENT},
        "train": {"seed": seed, "device": "cpu", "threads": 1, "epochs": epochs}}, layer)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default="demo/features.zarr")
    ap.add_argument("--labels", default="demo/data/annotations")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(a.workdir or tempfile.mkdtemp(prefix="paper-deviations-"))
    print(f"demo corpus {a.store}; widths {a.width}, segment {SEGMENT}, {a.epochs} epochs, seeds 3407.."
          f"{3406 + a.seeds}; runs in {root}")
    for encoder, preset in (("lstm", "t1-r8"), ("transformer", "t1-r1")):
        variants = [("paper mode (the preset)", {})]
        variants += [(n, layer) for n, layer, encs in DEVIATIONS if encoder in encs]
        variants.append(("all of exprnet's defaults", all_defaults(encoder)))
        results = {}
        t0 = time.perf_counter()
        for k, (name, layer) in enumerate(variants):
            best, last = [], []
            for seed in range(3407, 3407 + a.seeds):
                cfg = config(preset, a.store, a.labels, a.width, seed, layer, a.epochs)
                o = execute(cfg, root / f"{encoder}-{k}-s{seed}", existing="skip")
                best.append(o.metrics["best_val_f1"])
                last.append(o.run.read_history()[-1]["val_f1"])
            results[name] = (float(np.mean(best)), float(np.std(best)), float(np.mean(last)))
        base = results["paper mode (the preset)"]
        print(f"\n{encoder} ({preset} on stand-ins; {time.perf_counter() - t0:.0f} s)")
        print(f"  {'variant':<44}{'best-epoch F1':>16}{'diff':>9}{'last-epoch F1':>15}{'diff':>9}")
        for name, (b, sd, last) in results.items():
            print(f"  {name:<44}{b:>9.4f} ± {sd:.4f}{b - base[0]:>+9.4f}{last:>15.4f}{last - base[2]:>+9.4f}")


if __name__ == "__main__":
    main()
