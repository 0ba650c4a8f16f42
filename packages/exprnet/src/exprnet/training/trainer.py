"""The training loop: R-Drop, truncated BPTT for the LSTM, per-epoch validation and checkpoints.

A multi-task run (the bank holds VA or AU targets) trains one head per task on the shared encoder
with :class:`~exprnet.training.multitask.MultiTaskLoss` and keeps the checkpoint with the best
mean of the tasks' validation scores, then fits each task's post-processing on its training tracks
(:mod:`~exprnet.training.task_post`); EXPR alone runs exactly as before.

Everything a killed run needs to continue is saved at the end of each epoch (``last.pt``:
weights, optimizer, scheduler, grad scaler, torch RNG, history); the batch order of epoch ``e``
is drawn from ``default_rng([seed, e])``, so a resumed run repeats an unbroken one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from featurizer.core.device import resolve_device

from ..config import N_CLASSES, RunConfig
from ..data.bank import FeatureBank, Standardizer
from ..data.batches import Batch, BatchBuilder, Prefetcher, flag_columns
from ..data.segments import Segment, shuffled_segments, stream_plan
from ..errors import TrainingError
from ..models import ExprNet, build_model
from ..models.inference import predict_probs
from ..postprocess.calibration import resolve_mode
from ..reports.metrics import confusion, macro_f1_from_confusion, per_class_f1
from ..reports.progress import NullReporter, Reporter
from .augment import InputDropout
from .ema import WeightAverage
from .losses import class_counts, make_criterion
from .multitask import MultiTaskLoss, describe, expr_confusion, task_scores
from .postfit import fit_after_training
from .precision import MixedPrecision
from .record import load_last, save_last, write_metrics
from .runfolder import RunFolder
from .sampling import POWERS, SegmentSampler
from .schedule import Schedule
from .task_post import fit_run_post


@dataclass
class TrainResult:
    best_val_f1: float
    best_epoch: int
    per_class_f1: list[float]
    history: list[dict[str, Any]]
    run: RunFolder
    smoothing: dict[str, Any] | None = None  # the width chosen and the smoothed val F1 (``smooth:``)
    scores: dict[str, Any] | None = None  # multi-task: each task's validation scores at the best epoch


class Trainer:
    def __init__(self, cfg: RunConfig, bank: FeatureBank, train: Sequence[str], val: Sequence[str],
                 run: RunFolder, reporter: Reporter | None = None, sub_runs: Callable[..., Any] | None = None):
        """``sub_runs``: how to start a sub-run (``smooth.folds``' out-of-fold runs):
        :func:`exprnet.training.experiment.execute`, which passes itself."""
        self.cfg = cfg.resolved()
        self.sub_runs = sub_runs
        self.bank, self.run = bank, run
        self.train_tracks, self.val_tracks = list(train), list(val)
        self.train_ids, self.val_ids = bank.ids(train), bank.ids(val)
        self.reporter = reporter or NullReporter()
        self.device = resolve_device(self.cfg.train.device)
        self.precision = MixedPrecision.choose(self.device, self.cfg.train.amp)  # bf16, fp16 + scaler, fp32
        self.amp = self.precision.dtype is not None
        self.tasks = bank.tasks
        self.multi = self.tasks != ["expr"]
        self.best_scores: dict[str, Any] = {}

    # -- setup ---------------------------------------------------------------------------------
    def setup(self, resume: bool) -> dict[str, Any] | None:
        m, t = self.cfg.model, self.cfg.train
        if t.threads:
            torch.set_num_threads(t.threads)
        torch.manual_seed(t.seed)
        if resume:
            self.stats = Standardizer.load(self.run.stats)
        else:
            self.stats = Standardizer.fit(self.bank, self.train_ids)
        d = self.cfg.data
        self.builder = BatchBuilder(self.bank, self.stats, m.segment or 1, d.present_flags,
                                    pin_memory=self.device.type == "cuda", unlabelled=d.unlabelled, pad=d.pad,
                                    normalize=d.normalize, speech_gate=d.speech_gate)
        self.model: ExprNet = build_model(self.builder.input_dim, m, self.tasks).to(self.device)
        self.average = WeightAverage(self.model, t.ema)  # .module: the network validated and saved
        optim = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        self.opt = optim(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        labels = [self.bank.track_labels(i) for i in self.train_ids]
        counts, self.sampler = class_counts(labels), None
        plan = self._plan(1)  # a draw holds as many segments as the plain epoch: the same steps
        if t.sampling != "uniform":  # the loss balances what the draw holds, not the split
            self.sampler = SegmentSampler(self._labels_of, counts, POWERS[t.sampling])
            counts = self.sampler.expected_counts([s for step in plan for s in step if s is not None])
        self.epoch_steps = max(1, len(plan))
        self.sched = Schedule(self.opt, t, self.epoch_steps)
        self.scaler = self.precision.scaler()
        expr = make_criterion(self.cfg, counts, labels, self.device) if "expr" in self.tasks else None
        self.criterion = expr
        if self.multi:
            self.criterion = MultiTaskLoss.of(self.cfg, self.model.slices, expr, self.bank, self.train_ids, self.device)
        self.input_dropout = InputDropout(self.bank.dims, flag_columns(self.bank, d.present_flags),
                                          d.feature_dropout, d.modality_dropout)
        if not resume:
            self.run.create(self.cfg, self.train_tracks, self.val_tracks)
            self.stats.save(self.run.stats)
            return None
        return load_last(self)

    # -- one epoch -----------------------------------------------------------------------------
    def _plan(self, epoch: int) -> list[list[Segment | None]]:
        m, t = self.cfg.model, self.cfg.train
        rng = np.random.default_rng([t.seed, epoch])
        lengths = {i: self.builder.length(i) for i in self.train_ids}
        assert m.segment and m.stride
        if self.model.stateful:
            return stream_plan(lengths, t.batch_size, m.segment, rng, t.segment_jitter)
        return shuffled_segments(lengths, t.batch_size, m.segment, m.stride, rng,
                                 lambda s: bool(self.bank.any_label(self.builder.rows(s)).any()), t.segment_jitter,
                                 self.sampler.draw if self.sampler else None)

    def _labels_of(self, s: Segment) -> np.ndarray:
        return self.bank.labels[self.builder.rows(s)]

    def _forward(self, b: Batch, state: Any) -> tuple[torch.Tensor, torch.Tensor | None, Any]:
        n = b.x.shape[0]
        drop = self.input_dropout if self.input_dropout.active else (lambda x: x)
        if not self.cfg.loss.rdrop:
            logits, new = self.model(drop(b.x), b.mask, state, b.reset)
            return logits, None, new
        # R-Drop: both passes in one call (batch stacked twice; dropout masks differ per row).
        st = None if state is None else tuple(torch.cat([s, s], dim=1) for s in state)
        logits, new = self.model(drop(torch.cat([b.x, b.x])), torch.cat([b.mask, b.mask]), st,
                                 torch.cat([b.reset, b.reset]))
        if new is not None:
            new = tuple(s[:, :n] for s in new)
        return logits[:n], logits[n:], new

    def train_epoch(self, epoch: int, max_steps: int | None = None) -> dict[str, Any]:
        t = self.cfg.train
        plan = self._plan(epoch)
        if t.steps is not None:  # --steps: this epoch-sized block, up to the step budget
            plan = plan[:max(0, t.steps - self.sched.step)]
        if max_steps is not None:  # benchmarks: a fixed number of steps
            plan = plan[:max_steps]
        self.model.train()
        self.reporter.start(f"epoch {epoch}/{self.planned_epochs}", len(plan))
        cm = np.zeros((N_CLASSES, N_CLASSES), np.int64)
        tot = {"loss": 0.0, "ce": 0.0, "kl": 0.0, "n": 0, "frames": 0}
        state = None
        feed = Prefetcher(self.builder, plan, t.prefetch)
        t0 = time.perf_counter()
        for step, batch in enumerate(feed, start=1):
            b = batch.to(self.device)
            self.sched.apply(epoch)
            with self.precision.autocast():
                l1, l2, new = self._forward(b, state)
            l1, l2 = self.precision.float32(l1, l2)
            parts = self.criterion(l1, l2, b) if self.multi else self.criterion(l1, l2, b.y, b.mask)
            if new is not None:
                state = tuple(s.detach() for s in new)
            tot["frames"] += batch.frames
            if parts.frames == 0:
                self.reporter.advance(1, "")
                continue
            if not torch.isfinite(parts.loss):
                self.reporter.stop()
                raise TrainingError(
                    f"epoch {epoch}, step {step}/{len(plan)}",
                    f"the loss is {float(parts.loss.detach())} (CE {parts.ce}, KL {parts.kl}); batch: "
                    f"{batch.describe(self.bank)}",
                    "training stopped; lower --lr, add train.grad_clip, or check these tracks' features")
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(parts.loss).backward()
            if t.grad_clip:
                self.scaler.unscale_(self.opt)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
            self.scaler.step(self.opt)
            self.scaler.update()
            self.average.update()
            self.sched.step += 1
            k = parts.frames
            tot["loss"] += float(parts.loss.detach()) * k
            tot["ce"] += parts.ce * k
            tot["kl"] += parts.kl * k
            tot["n"] += k
            if "expr" in self.tasks:
                cm += confusion(b.y.cpu().numpy(), l1.detach()[..., self.model.slices["expr"]].argmax(-1).cpu().numpy())
            self.reporter.advance(1, f"loss {tot['loss'] / tot['n']:.4f}  F1 {macro_f1_from_confusion(cm):.4f}")
        secs = time.perf_counter() - t0
        self.reporter.stop()
        n = max(tot["n"], 1)
        return {"train_loss": tot["loss"] / n, "train_ce": tot["ce"] / n, "train_kl": tot["kl"] / n,
                "train_f1": macro_f1_from_confusion(cm), "seconds": secs,
                "frames_per_s": tot["frames"] / max(secs, 1e-9), "data_wait": feed.wait_s / max(secs, 1e-9)}

    # -- the loop ------------------------------------------------------------------------------
    @property
    def planned_epochs(self) -> int:
        """Epochs (or, with ``train.steps``, epoch-sized blocks) the run is set to take."""
        return -(-self.cfg.train.steps // self.epoch_steps) if self.cfg.train.steps else self.cfg.train.epochs

    def done(self, history: list[dict[str, Any]], best_epoch: int) -> bool:
        """All epochs (or steps) taken, or ``train.patience`` epochs without a better val F1."""
        if not history:
            return False
        t, last = self.cfg.train, history[-1]["epoch"]
        if t.patience is not None and last - best_epoch >= t.patience:
            return True
        return self.sched.step >= t.steps if t.steps else last >= t.epochs

    def fit(self, resume: bool = False, on_epoch_end: Callable[[int], None] | None = None) -> TrainResult:
        ckpt = self.setup(resume)
        history: list[dict[str, Any]] = list(ckpt["history"]) if ckpt else []
        best_f1 = float(ckpt["best_val_f1"]) if ckpt else -1.0
        best_epoch = int(ckpt["best_epoch"]) if ckpt else 0
        best_pc: list[float] = list(ckpt["best_per_class"]) if ckpt else [0.0] * N_CLASSES
        best_cm: list[list[int]] = ckpt["best_confusion"] if ckpt else []
        epoch = int(ckpt["epoch"]) if ckpt else 0
        self.best_scores = dict(ckpt.get("best_scores") or {}) if ckpt else {}
        tb = self.run.epoch_log(purge_step=epoch + 1 if resume else None)
        try:
            while not self.done(history, best_epoch):
                epoch += 1
                lr = self.sched.apply(epoch)
                row: dict[str, Any] = {"epoch": epoch, **self.train_epoch(epoch)}
                scores, cm = self.validate()
                pc = per_class_f1(cm) if cm is not None else np.zeros(N_CLASSES)
                row.update({"val_f1": float(pc.mean()) if cm is not None else float("nan"), "lr": lr})
                row = {k: row[k] for k in ("epoch", "train_loss", "train_ce", "train_kl", "train_f1",
                                           "val_f1", "lr", "seconds", "frames_per_s", "data_wait")}
                if self.multi:
                    row.update({k: v for k, v in scores.items() if k in ("val_score", "val_va", "val_ccc_valence",
                                                                           "val_ccc_arousal", "val_au_f1")})
                history.append(row)
                score = scores["val_score"] if self.multi else row["val_f1"]
                if score > best_f1:
                    best_f1, best_epoch, best_pc = score, epoch, pc.tolist()
                    best_cm, self.best_scores = (cm.tolist() if cm is not None else []), scores
                    self.run.save("best", {"model": self.average.module.state_dict(), "epoch": epoch,
                                           "val_f1": best_f1, "in_dim": self.builder.input_dim,
                                           **({"tasks": self.tasks} if self.multi else {})})
                save_last(self, epoch, history, best_f1, best_epoch, best_pc, best_cm)
                tb.write(row, pc)
                write_metrics(self, history, best_f1, best_epoch, best_pc, best_cm)
                self.reporter.message(f"epoch {epoch}: loss {row['train_loss']:.4f}  " + (
                                      describe(scores) if self.multi else
                                      f"train F1 {row['train_f1']:.4f}  val F1 {row['val_f1']:.4f}")
                                      + ("  [best]" if best_epoch == epoch else ""))
                if on_epoch_end:
                    on_epoch_end(epoch)
        finally:
            tb.close()
            self.reporter.stop()
        post = self.fit_task_post() if history and self.multi else {}
        smoothing = self.fit_smoothing() if history and not self.multi else post.get("smoothing")
        write_metrics(self, history, best_f1, best_epoch, best_pc, best_cm, smoothing, post)
        return TrainResult(best_f1, best_epoch, best_pc, history, self.run, smoothing,
                           self.best_scores if self.multi else None)

    def validate(self) -> tuple[dict[str, Any], np.ndarray | None]:
        """Each task's validation scores (multi-task; :func:`~.multitask.task_scores`) and the EXPR
        confusion matrix of the validation tracks' labelled frames (None without EXPR)."""
        probs = self.probs(self.val_ids, "validate")
        if not self.multi:
            return {}, expr_confusion(self.bank, probs)
        return task_scores(self.bank, probs, self.model.slices, self.val_ids)

    def probs(self, ids: Sequence[int], name: str) -> dict[int, np.ndarray]:
        """Per-frame probabilities of the current weights on tracks ``ids`` (progress as ``name``)."""
        t = self.cfg.train
        self.reporter.start(name, None)
        try:
            return predict_probs(self.average.module, self.builder, self.bank, ids, self.cfg.model,
                                 t.eval_batch_size or t.batch_size, self.device, self.amp, t.prefetch,
                                 on_batch=self.reporter.update)
        finally:
            self.reporter.stop()

    def fit_smoothing(self) -> dict[str, Any] | None:
        """Calibration and ``smooth:`` for the best checkpoint (:func:`exprnet.training.postfit.fit_after_training`)."""
        sm = self.cfg.smooth
        if sm.kind == "none" and resolve_mode(sm.calibrate, bool(sm.folds)) == "none":
            return None
        self.average.module.load_state_dict(self.run.load("best")["model"])
        return fit_after_training(self.cfg, self.bank, self.train_ids, self.val_ids, self.probs, self.builder.views,
                                  self.run.root, self.reporter, self.sub_runs)

    def fit_task_post(self) -> dict[str, Any]:
        """A multi-task run's VA/AU post-processing and EXPR calibration and ``smooth:`` for the best
        checkpoint (:func:`exprnet.training.task_post.fit_run_post`); metrics.json's fields."""
        self.average.module.load_state_dict(self.run.load("best")["model"])
        return fit_run_post(self.cfg, self.bank, self.train_ids, self.val_ids, self.probs, self.builder.views,
                            self.model.slices, self.run.root, self.reporter, self.sub_runs)
