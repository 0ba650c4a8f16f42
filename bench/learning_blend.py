"""The decoding table's blend rows (issue 36): `recommended` as it ships, blended with the
logistic-regression baseline (``smooth.baseline: auto``), beside the same network alone.

Each seed's run (trained once, shared with bench/learning_decoding.py's network rows) is scored at
its last checkpoint like every other row: its blended validation probabilities (the weight and the
two temperatures the run chose out of fold, ``RUN/checkpoints/blend.npz``) and every
post-processing fitted on the blend's out-of-fold training probabilities (``RUN/oof/probs.npz``);
the network-alone rows read the network's (``RUN/oof/network.npz``). :func:`blend_lines` prints,
per seed, the chosen weight and its out-of-fold F1s, and the run's own figures (best checkpoint,
its own chain: ``val_f1`` blended, ``val_f1_network``), then the target: blended + the default
decoder >= the best decoded baseline - ``SLACK``, ECE after calibration <= ``ECE``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from exprnet.postprocess.priors import trained_prior
from exprnet.prediction.predict import Predictor, load_run
from exprnet.reports.progress import NullReporter
from exprnet.training.experiment import prepare
from exprnet.training.losses import class_counts
from learning_decoding import DEFAULT, SPECS, Model
from learning_runs import base_config, budget_layer, deep_run, recommended

SLACK = 0.005  # issue 36: blended >= best decoded baseline - SLACK
ECE = 0.05
DECODERS = ("viterbi", "hsmm")
BUILT_IN = ("logreg baseline", "mlp baseline")  # `exprnet baseline`'s classifiers (not the mixed rows)


def blended_models(c: Any, size: str, seeds: int, threads: int, work: Path, budget: dict[str, int],
                   sets: list[str]) -> list[Model]:
    """`recommended`'s seeds as shipped (blended), last checkpoint; [] when the runs have no blend."""
    name, layers = recommended(list(sets))
    out = []
    for seed in range(seeds):
        ls = [base_config(c, threads), *layers, {"train": {"seed": seed}}]
        run_dir = work / size / f"{name.replace(' ', '-')}-s{seed}"
        deep_run(c, [*ls, budget_layer(budget, ls)], run_dir)  # reused: trained for the network rows
        lr = load_run(run_dir, "last")
        if lr.blend is None:
            return []
        cfg, train = lr.cfg, lr.run.read_tracks()["train"]
        bank = prepare(cfg).bank
        tids, vids = bank.ids(train), bank.ids(lr.run.read_tracks()["val"])
        t0 = time.perf_counter()
        probs = Predictor(lr, "cpu").probs(bank, NullReporter())
        secs = time.perf_counter() - t0
        with np.load(run_dir / "oof" / "probs.npz") as z:
            train_p, train_y = [z[f"p:{t}"] for t in train], [z[f"y:{t}"] for t in train]
        prior = trained_prior(cfg, class_counts([bank.track_labels(i) for i in tids]))
        m = Model(f"{name} (as shipped: blended, weight {lr.blend.network_weight:g})", train_p, train_y, list(train),
                  [probs[i] for i in vids], [bank.track_labels(i) for i in vids], prior,
                  "out of fold (the blend of the sub-runs and the regression's groups)", secs, seed).run((*SPECS, "box:raw"))
        m.time_decoding(list(probs.values()))
        m.run_metrics = lr.run.read_metrics()["smoothing"]  # type: ignore[attr-defined]
        print(f"[{size}] {m.name} seed {seed}: " + ", ".join(f"{s} {m.f1(s):.4f}" for s in m.labels)
              + f"; ECE {m.ece()[0]:.3f} -> {m.ece()[1]:.3f}", flush=True)
        out.append(m)
    return out


def blend_lines(size: str, models: dict[str, list[Model]]) -> str:
    """Per seed: the weight chosen and its out-of-fold F1s; the run's own scores; the target."""
    blended, alone = models.get("recommended", []), models.get("recommended: network alone", [])
    if not blended or not hasattr(blended[0], "run_metrics"):
        return ""
    base = [(name, spec, float(np.mean([m.f1(spec) for m in ms])))
            for name, ms in models.items() if name in BUILT_IN for spec in DECODERS if spec in ms[0].labels]
    best = max(base, key=lambda b: b[2])
    out = [f"| {size}: seed | network weight (out of fold) | OOF F1: network / baseline / chosen | "
           f"val F1 last ckpt, {DEFAULT}: blended / network alone | run's own (best ckpt): blended / network | "
           "ECE after calibration: blended / network |", "|---|---|---|---|---|---|"]
    for k, m in enumerate(blended):
        rec, r = m.run_metrics["blend"], m.run_metrics  # type: ignore[attr-defined]
        chosen = rec["oof_f1_by_weight"][f"{rec['network_weight']:g}"]
        net = alone[k].f1(DEFAULT) if k < len(alone) else float("nan")
        net_ece = alone[k].ece()[1] if k < len(alone) else float("nan")
        out.append(f"| {m.seed} | {rec['network_weight']:g} | {rec['network_oof_f1']:.3f} / {rec['baseline_oof_f1']:.3f}"
                   f" / {chosen:.3f} | {m.f1(DEFAULT):.3f} / {net:.3f} | {r['val_f1']:.3f} / "
                   f"{r['val_f1_network']:.3f} | {m.ece()[1]:.3f} / {net_ece:.3f} |")
    f1 = float(np.mean([m.f1(DEFAULT) for m in blended]))
    ece = float(np.mean([m.ece()[1] for m in blended]))
    ok = f1 >= best[2] - SLACK and ece <= ECE
    out.append(f"\n[{size}] issue 36: recommended (blended) + {DEFAULT} {f1:.3f} vs best decoded baseline "
               f"{best[2]:.3f} ({best[0]} + {best[1]}:auto), needs >= {best[2] - SLACK:.3f}; ECE after calibration "
               f"{ece:.3f} (<= {ECE}): {'met' if ok else 'NOT met'}")
    return "\n".join(out)
