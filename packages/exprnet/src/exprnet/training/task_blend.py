"""``smooth.baseline: auto`` for VA and AU heads: each blended with its task baseline, weights out of fold.

The partner of a head is the task baseline's model (:mod:`exprnet.tasks.baselines`: VA ridge, AU
per-AU class-balanced logistic regression) on exactly the run's inputs (its builder rows, as the
EXPR partner's: :func:`exprnet.baseline.fit.make_builder`; ``baseline.max_frames`` annotated frames
at most). Its out-of-fold predictions come from the same source-video groups as the network's
``smooth.folds`` sub-runs (:func:`exprnet.tasks.baselines.out_of_fold` over
:func:`~exprnet.data.splits.track_groups` of the run's training tracks); the partner kept is fitted
on every training track. Per task, ``w * net + (1 - w) * partner`` of the two sides' out-of-fold
outputs is scored for ``w`` in 0, 0.1, ..., 1 by the task's metric after its post-processing
fitted on that blend (AU: F1 after per-AU smoothing and thresholds, :func:`fit_au_post`; VA: CCC
after smoothing, :func:`fit_va_post`); the best is kept (ties: the larger ``w``). Validation
labels are never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from featurizer.core.annotations import source_video

from ..baseline.fit import make_builder
from ..config import BaselineConfig, RunConfig
from ..data.bank import FeatureBank, Standardizer
from ..data.batches import BatchBuilder
from ..data.splits import track_groups
from ..models.task_blend import TaskBlend
from ..reports.progress import Reporter
from ..tasks.baselines import AULogistic, VARidge, out_of_fold
from ..tasks.metrics import au_scores, va_scores
from ..tasks.post import fit_au_post, fit_va_post
from .blend import WEIGHTS
from .oof import task_truth
from .runfolder import RunFolder

METRIC = {"va": "va", "au": "au_f1"}


def blend_score(task: str, preds: Sequence[np.ndarray], trues: Sequence[np.ndarray]) -> float:
    """The task's pooled score of ``preds`` after the post-processing fitted on them (training tracks)."""
    y = np.concatenate(trues)
    if task == "va":
        return float(va_scores(np.concatenate(fit_va_post(preds, trues).apply(preds)), y)["va"])
    return float(au_scores(np.concatenate(fit_au_post(preds, trues).apply(preds)), y)["au_f1"])


@dataclass
class FittedTaskBlends:
    blends: dict[str, TaskBlend]
    builder: BatchBuilder  # the run's inputs (what the partners read)
    train_preds: dict[str, dict[str, np.ndarray]]  # task -> track -> the chosen blend's out-of-fold outputs
    record: dict[str, Any]  # task -> metrics.json's ``task_post.blend`` entry

    def outputs(self, ids: Sequence[int], net: dict[int, np.ndarray], slices: dict[str, slice]
                ) -> dict[int, np.ndarray]:
        """The network's outputs ``net`` of tracks ``ids`` with each blended task's slice replaced by the blend."""
        out = {}
        for i in ids:
            row = np.array(net[i], np.float32, copy=True)
            if self.blends:
                x = self.builder.inputs(i)
                for t, b in self.blends.items():
                    row[:, slices[t]] = b.mix(row[:, slices[t]], b.partner(x))
            out[i] = row
        return out


def fit_task_blends(cfg: RunConfig, bank: FeatureBank, train: Sequence[str], net_oof: dict[str, dict[str, np.ndarray]],
                    run_root: Path, reporter: Reporter) -> FittedTaskBlends:
    """The blends of the run in ``run_root``; ``net_oof``: per task, the network's out-of-fold outputs
    of the training tracks that task annotates."""
    seed, threads = cfg.train.seed, cfg.train.threads or 1
    max_frames = (cfg.baseline or BaselineConfig()).max_frames
    builder = make_builder(cfg, bank, Standardizer.load(RunFolder(run_root).stats))
    groups = track_groups(list(train), cfg.smooth.folds, source_video)  # the sub-runs' groups
    xs = [builder.inputs(bank.index(t)) for t in train]
    blends, chosen, record = {}, {}, {}
    for task, net in net_oof.items():
        model = VARidge if task == "va" else AULogistic

        def fit(a: list[np.ndarray], b: list[np.ndarray], model: Any = model) -> Any:
            return model.fit(a, b, max_frames=max_frames, seed=seed, threads=threads)

        predict = VARidge.predict if task == "va" else AULogistic.predict_proba
        ys = [task_truth(bank, task, t) for t in train]
        name = "ridge" if task == "va" else "per-AU logistic regression"
        reporter.message(f"blend {task.upper()}: the {name}, out of fold ({len(groups)} source-video groups)")
        at = {t: k for k, t in enumerate(train)}
        tracks = list(net)
        oof = out_of_fold(fit, predict, xs, ys, groups)
        base = [oof[at[t]] for t in tracks]
        trues = [ys[at[t]] for t in tracks]
        final = fit(xs, ys)
        nets = [net[t] for t in tracks]
        scores = []
        reporter.start(f"blend {task.upper()}: network weight, out of fold", len(WEIGHTS))
        for w in WEIGHTS:
            b = TaskBlend(task, w, final.coef, final.intercept)
            scores.append(blend_score(task, [b.mix(p, q) for p, q in zip(nets, base, strict=True)], trues))
            reporter.advance(1)
        reporter.stop()
        best = max(scores)
        w = WEIGHTS[max(k for k, v in enumerate(scores) if v >= best - 1e-12)]  # ties: the larger network weight
        blends[task] = TaskBlend(task, w, final.coef, final.intercept)
        chosen[task] = {t: blends[task].mix(p, q) for t, p, q in zip(tracks, nets, base, strict=True)}
        record[task] = {"network_weight": w, "partner": "ridge" if task == "va" else "logreg",
                        "metric": METRIC[task] + " after post-processing",
                        "chosen_on": f"training tracks, out of fold ({cfg.smooth.folds} source-video groups of the sub-runs)",
                        "oof_score_by_weight": {f"{v:g}": float(s) for v, s in zip(WEIGHTS, scores, strict=True)},
                        "network_oof": float(scores[-1]), "baseline_oof": float(scores[0])}
        reporter.message(f"blend {task.upper()}: network weight {w:g} (out-of-fold {METRIC[task]} {best:.4f}; "
                         f"network alone {scores[-1]:.4f}, baseline alone {scores[0]:.4f})")
    return FittedTaskBlends(blends, builder, chosen, record)
