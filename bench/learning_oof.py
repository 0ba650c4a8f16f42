"""Out-of-fold scoring for the learning benchmark (``bench/learning.py --oof-folds K``).

The single validation split of the small corpus holds 10 tracks (a few subjects, three Fear
events), so one seed's F1 there moves by +-0.03 with which subjects it happens to fit. Here every
track is validated exactly once: the corpus is split into K folds by source video (``exprnet
cv``'s folds: K-1 parts of Train_Set plus the official Validation_Set), each fold is trained on
the others, and each method's last-checkpoint predictions on its held-out folds are pooled into
one F1 over all tracks. The same folds serve the baselines (confusions summed over folds), every
`recommended` seed and the vote over every 3 seeds.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from exprnet.baseline.fit import evaluate_baseline
from exprnet.config import BaselineConfig, build_config
from exprnet.errors import RunError
from exprnet.reports.metrics import macro_f1_from_confusion
from exprnet.training.cv import folds_of, run_cv
from exprnet.training.experiment import prepare
from exprnet.training.runfolder import RunFolder
from learning_runs import (
    TRAINED,
    base_config,
    budget_layer,
    corpus_f1,
    last_probs,
    recommended,
    train_fps,
    vote_rows,
)


def oof_baselines(c: Any, folds: int, threads: int) -> list[dict[str, Any]]:
    """The per-track-normalised baselines, smoothed (width by CV on each fold's training tracks)."""
    rows, prep, split = [], None, []
    for clf in ("logreg", "mlp"):
        cfg = build_config(base_config(c, threads), {
            "data": {"normalize": "track"}, "baseline": BaselineConfig(classifier=clf).model_dump(),
            "smooth": {"kind": "box"}})
        if prep is None:  # the same tracks and features for both classifiers
            prep = prepare(cfg)
            split = folds_of(prep, folds)
        cm, t0 = 0, time.perf_counter()
        for fold in split:
            cm = cm + np.array(evaluate_baseline(cfg, prep.bank, fold.train, fold.val).metrics["val_confusion"])
        f1 = macro_f1_from_confusion(cm)
        print(f"[oof] {clf} + box, per-track: F1 {f1:.4f} over {int(cm.sum()):,} frames, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        rows.append({"method": f"{clf} + box (CV on train), out of fold", "normalize": "track", "f1": [f1],
                     "fps": [float("nan")], "kind": "baseline"})
    return rows


def oof_seed(c: Any, seed: int, folds: int, threads: int, out: Path, budget: dict[str, int],
             rec: list[dict[str, Any]]) -> tuple[dict[str, np.ndarray], float]:
    """`recommended` (layers ``rec``) with ``seed`` trained on every fold (kept and reused in ``out``);
    its smoothed last-checkpoint probabilities on every track, each from the fold that held it out."""
    layers = [base_config(c, threads), *rec, {"train": {"seed": seed}}]
    cfg = build_config(*layers, budget_layer(budget, layers))
    done = len(list(out.glob("fold*/metrics.json")))  # folds finished before: reused, not trained
    try:
        result = run_cv(cfg, out, folds)
    except RunError:  # a folder of another configuration: train again
        shutil.rmtree(out)
        result = run_cv(cfg, out, folds)
        done = 0
    TRAINED["runs"] += folds - done
    probs: dict[str, np.ndarray] = {}
    fps = []
    for row in result.rows:
        fold = out / f"fold{row['fold']}"
        probs.update(last_probs(c, fold)[1])
        fps.append(train_fps(RunFolder(fold)))
    return probs, float(np.mean(fps))


def oof_rows(c: Any, size: str, n_seeds: int, folds: int, threads: int, work: Path,
             budget: dict[str, int], sets: list[str]) -> list[dict[str, Any]]:
    rows = oof_baselines(c, folds, threads)
    name, rec = recommended(sets)
    tag = name.replace(" ", "-")
    members, f1s, fpss = [], [], []
    for seed in range(n_seeds):
        t0 = time.perf_counter()
        probs, fps = oof_seed(c, seed, folds, threads, work / size / f"{tag}-oof{folds}-s{seed}", budget, rec)
        members.append(probs)
        f1s.append(corpus_f1(c, probs))
        fpss.append(fps)
        print(f"[oof] {name} seed {seed}: F1 {f1s[-1]:.4f} over {len(probs)} tracks, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    rows.append({"method": f"{name} + its smoothing, out of fold", "normalize": "track", "f1": f1s,
                 "fps": fpss, "kind": "recommended"})
    return rows + (vote_rows(c, members, f1s, size, name, ", out of fold") if len(members) >= 3 else [])
