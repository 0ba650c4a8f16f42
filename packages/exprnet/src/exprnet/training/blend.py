"""``smooth.baseline: auto``: the network blended with the decoded baseline, weights out of fold.

The partner is ``exprnet baseline``'s class-balanced logistic regression on exactly the run's
inputs (the run's own builder rows: features, ``data.normalize``, present flags, its statistics;
``baseline.max_frames`` by default). Its out-of-fold probabilities come from the same source-video
groups as the network's ``smooth.folds`` sub-runs (:func:`exprnet.baseline.fit.out_of_fold` with
``folds = smooth.folds``: one regression per group, fitted on the others), and the partner kept is
fitted on every training track. Each side gets its own temperature on its out-of-fold
probabilities; ``w * cal_net(p_net) + (1 - w) * cal_base(p_base)`` is scored for ``w`` in
0, 0.1, ..., 1 by :func:`exprnet.ensemble.oof.oof_score` under the run's ``smooth:`` (an ``auto``
decoder: its cross-validated F1 over training source videos); the best ``w`` is kept (ties: the
larger). Validation labels are never read. The run's calibration and decoder are then fitted on
the chosen blend's out-of-fold probabilities (:mod:`.postfit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..baseline.fit import fit_classifier, make_builder, out_of_fold
from ..config import BaselineConfig, RunConfig
from ..data.bank import FeatureBank, Standardizer
from ..data.batches import BatchBuilder
from ..ensemble.oof import oof_score
from ..models.blend import ExprBlend, RunBlend, blend_path
from ..models.task_blend import TaskBlend
from ..postprocess.calibration import fit_calibration
from ..postprocess.choice import TrainingTracks
from ..postprocess.decoding import Spec
from ..reports.progress import Reporter
from .oof import NETWORK_EXPR
from .runfolder import RunFolder

WEIGHTS = tuple(k / 10 for k in range(11))  # the network's weight, tried on the training tracks


@dataclass
class FittedBlend:
    blend: ExprBlend
    builder: BatchBuilder  # the run's inputs (what the partner reads)
    train_probs: list[np.ndarray]  # the chosen blend's out-of-fold training probabilities
    record: dict[str, Any]  # metrics.json ``smoothing.blend``

    def probs(self, ids: Sequence[int], net: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """The blend of the network's probabilities ``net`` on tracks ``ids``."""
        return {i: self.blend.mix(net[i], self.blend.base_probs(self.builder.inputs(i))) for i in ids}


def partner_config(cfg: RunConfig) -> BaselineConfig:
    """The partner's settings: ``exprnet baseline``'s logistic regression (its ``max_frames``), on
    the run's ``smooth.folds`` groups."""
    base = cfg.baseline or BaselineConfig()
    return BaselineConfig(classifier="logreg", max_frames=base.max_frames, folds=cfg.smooth.folds)


def fit_blend(cfg: RunConfig, bank: FeatureBank, train_ids: Sequence[int], net_oof: Sequence[np.ndarray],
              labels: Sequence[np.ndarray], run_root: Path, spec: Spec, prior: np.ndarray, reporter: Reporter
              ) -> FittedBlend:
    """The blend of the run in ``run_root`` (``net_oof``: its out-of-fold probabilities of
    ``train_ids``, with their ``labels``); the caller saves it (:func:`save_blend`)."""
    seed, threads = cfg.train.seed, cfg.train.threads
    names = [bank.tracks[i] for i in train_ids]
    builder = make_builder(cfg, bank, Standardizer.load(RunFolder(run_root).stats))
    bc = partner_config(cfg)
    oof = out_of_fold(bc, builder, names, seed, reporter, threads)
    base_oof = [oof[i] for i in train_ids]
    reporter.message("blend: the logistic regression on every training track")
    final = fit_classifier(bc, builder, train_ids, seed, threads)
    cal_net = fit_calibration(net_oof, labels, "temperature", seed)
    cal_base = fit_calibration(base_oof, labels, "temperature", seed)
    cands = [ExprBlend(w, cal_net.temperature, cal_base.temperature, final.classes, final.weights[0],
                       final.biases[0]) for w in WEIGHTS]
    scores = []
    reporter.start("blend: network weight, out of fold", len(cands))
    for b in cands:
        mixed = [b.mix(p, q) for p, q in zip(net_oof, base_oof, strict=True)]
        scores.append(oof_score(spec, TrainingTracks(names, mixed, list(labels), prior, "out of fold")))
        reporter.advance(1)
    reporter.stop()
    best = max(scores)
    pick = max(k for k, v in enumerate(scores) if v >= best - 1e-12)  # ties: the larger network weight
    blend = cands[pick]
    record = {"network_weight": blend.network_weight, "net_temperature": blend.net_temperature,
              "base_temperature": blend.base_temperature, "partner": "logreg",
              "chosen_on": f"training tracks, out of fold ({cfg.smooth.folds} source-video groups of the sub-runs)",
              "oof_f1_by_weight": {f"{w:g}": float(v) for w, v in zip(WEIGHTS, scores, strict=True)},
              "network_oof_f1": float(scores[-1]), "baseline_oof_f1": float(scores[0])}
    reporter.message(f"blend: network weight {blend.network_weight:g} (out-of-fold F1 {best:.4f}; network alone "
                     f"{scores[-1]:.4f}, baseline alone {scores[0]:.4f})")
    mixed = [blend.mix(p, q) for p, q in zip(net_oof, base_oof, strict=True)]
    return FittedBlend(blend, builder, mixed, record)


def save_blend(run_root: Path, expr: ExprBlend, tasks: dict[str, TaskBlend] | None = None) -> None:
    """``RUN/checkpoints/blend.npz``: the EXPR blend alone, or with the VA/AU heads' of a multi-task run."""
    (RunBlend(expr, tasks) if tasks else expr).save(blend_path(run_root))


def drop_stale(run_root: Path) -> None:
    """A run refitted without a blend keeps none from an earlier fit: no ``blend.npz``, and the
    network's out-of-fold probabilities back in ``oof/probs.npz``."""
    blend_path(run_root).unlink(missing_ok=True)
    net = run_root / "oof" / NETWORK_EXPR
    if net.exists():
        net.replace(run_root / "oof" / "probs.npz")
