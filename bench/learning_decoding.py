"""The learning benchmark's decoding table (issue 25): post-processing beside an oracle.

Per model (the built-in baselines, `recommended`'s seeds) its validation probabilities go through
each post-processing of ``SPECS``, every parameter fitted on the *training* tracks only: the
calibration (temperature) and an ``auto`` choice on the training tracks' probabilities (baselines:
out of fold, 3 groups by source video; networks: out of fold with ``--oof-folds K`` sub-runs, else
their own in-sample predictions, said in the row), exactly as ``exprnet baseline`` / ``exprnet
train`` fit them (:func:`exprnet.postprocess.choice.fit_postprocess`). Beside each row:

- ``oracle``: the true segments of each validation track given (runs of one label, cut by -1
  frames), each classified from the model's summed log-probabilities (divided by the prior it was
  trained towards): what perfect boundaries would give this model;
- ``gap closed``: (F1 - best baseline + box) / (oracle row - best baseline + box), the oracle row
  being the best baseline's oracle;
- ECE of the validation probabilities before and after the calibration, and the decoding's time
  against the model's prediction time on the same tracks.

The ensemble rows combine 3 `recommended` seeds: calibrated members averaged, then decoded once
(the decoder fitted on the averaged training probabilities), against decoding each member and
voting their labels, each triple against its best (decoded) member.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np
from exprnet.baseline.fit import evaluate_baseline, make_builder, track_probs
from exprnet.config import N_CLASSES, BaselineConfig, build_config
from exprnet.data.splits import track_groups
from exprnet.ensemble.combine import vote_probs
from exprnet.postprocess.calibration import ece
from exprnet.postprocess.choice import Fitted, apply_all, describe_record, fit_postprocess
from exprnet.postprocess.decoding import parse
from exprnet.postprocess.priors import FLOOR, trained_prior
from exprnet.prediction.predict import Predictor, load_run
from exprnet.reports.metrics import macro_f1
from exprnet.reports.progress import NullReporter
from exprnet.training.experiment import execute, prepare
from exprnet.training.losses import class_counts
from exprnet.training.postfit import out_of_fold
from featurizer.core.annotations import source_video
from learning_runs import base_config, budget_layer, deep_run, recommended

SPECS = ("none", "box", "viterbi", "hsmm")  # each ``:auto`` (fitted on training tracks)
DEFAULT = "viterbi"  # the decoding `recommended` is scored with in the targets
UNIFORM = np.full(N_CLASSES, 1.0 / N_CLASSES)


def true_segments(y: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of one label within the labelled frames of a track."""
    y = np.asarray(y)
    starts = np.r_[0, np.flatnonzero(np.diff(y)) + 1]
    stops = np.r_[starts[1:], len(y)]
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True) if y[a] >= 0]


def oracle_labels(p: np.ndarray, y: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Each true segment labelled by the class of its largest summed log(p / prior); -1 frames by argmax."""
    logp = np.log(np.maximum(p, FLOOR)) - np.log(prior)[None]
    out = p.argmax(1)
    for a, b in true_segments(y):
        out[a:b] = logp[a:b].sum(0).argmax()
    return out


def f1_of(labels: list[np.ndarray], y: list[np.ndarray]) -> float:
    return macro_f1(np.concatenate(y), np.concatenate(labels))


class Model:
    """One model's probabilities: training tracks (for fitting) and validation tracks (scored)."""

    def __init__(self, name: str, train_p: list[np.ndarray], train_y: list[np.ndarray], train_names: list[str],
                 val_p: list[np.ndarray], val_y: list[np.ndarray], prior: np.ndarray, source: str,
                 predict_s: float, seed: int = 0, calibrate: str = "temperature"):
        self.calibrate = calibrate
        self.name, self.train_p, self.train_y, self.train_names = name, train_p, train_y, train_names
        self.val_p, self.val_y, self.prior, self.source, self.predict_s = val_p, val_y, prior, source, predict_s
        self.seed = seed
        self.labels: dict[str, list[np.ndarray]] = {}
        self.fitted: dict[str, Fitted] = {}
        self.decode_s: dict[str, float] = {}
        self.calibrated: list[np.ndarray] = []

    def run(self, specs: tuple[str, ...] = SPECS) -> Model:
        groups = track_groups(self.train_names, 3, source_video)
        for spec in specs:
            calibrate = "none" if spec == "box:raw" else self.calibrate
            text = "box" if spec == "box:raw" else spec
            f = fit_postprocess(parse(text), calibrate, self.train_p, self.train_y, groups, self.prior,
                                self.source, self.seed)
            t0 = time.perf_counter()
            dec = apply_all(f.processor, self.val_p, f.calibration)
            self.decode_s[spec] = time.perf_counter() - t0
            self.labels[spec], self.fitted[spec] = [d.labels for d in dec], f
            if spec == "none":
                self.calibrated = [f.calibration.calibrate(p) for p in self.val_p]
        return self

    def time_decoding(self, every: list[np.ndarray]) -> None:
        """The default decoder (calibration, Viterbi path and marginals) on the tracks the
        prediction time ``predict_s`` was measured on."""
        f = self.fitted[DEFAULT]
        t0 = time.perf_counter()
        apply_all(f.processor, every, f.calibration)
        self.decode_all_s = time.perf_counter() - t0

    def f1(self, spec: str) -> float:
        return f1_of(self.labels[spec], self.val_y)

    def oracle(self) -> float:
        return f1_of([oracle_labels(p, y, self.prior) for p, y in zip(self.val_p, self.val_y, strict=True)],
                     self.val_y)

    def ece(self) -> tuple[float, float]:
        return ece(self.val_p, self.val_y), ece(self.calibrated, self.val_y)


def baseline_models(c: Any, seeds: int, threads: int) -> dict[str, list[Model]]:
    """The built-in baselines (per-track standardised), their out-of-fold training probabilities."""
    out: dict[str, list[Model]] = {}
    for clf in ("logreg", "mlp"):
        for seed in range(seeds):
            cfg = build_config(base_config(c, threads), {
                "data": {"normalize": "track"}, "train": {"seed": seed},
                "baseline": BaselineConfig(classifier=clf).model_dump(), "smooth": {"kind": "box"}})
            prep = prepare(cfg)
            bank = prep.bank
            fit = evaluate_baseline(cfg, bank, prep.split.train, prep.split.val)
            tids, vids = bank.ids(prep.split.train), bank.ids(prep.split.val)
            builder = make_builder(cfg, bank, fit.stats)
            t0 = time.perf_counter()
            probs = track_probs(fit.clf, builder, range(len(bank.tracks)))  # every track: the timing's reference
            secs, val = time.perf_counter() - t0, probs
            assert fit.oof is not None
            m = Model(f"{clf} baseline", [fit.oof[i] for i in tids], [bank.track_labels(i) for i in tids],
                      list(prep.split.train), [val[i] for i in vids], [bank.track_labels(i) for i in vids],
                      UNIFORM, "out of fold (3 groups by source video)", secs, seed).run((*SPECS, "box:raw"))
            m.time_decoding(list(probs.values()))
            print(f"[{c.spec.n_tracks} tracks] {clf} seed {seed}: " + ", ".join(
                f"{s} {m.f1(s):.4f}" for s in m.labels) + f"; oracle {m.oracle():.4f}", flush=True)
            out.setdefault(f"{clf} baseline", []).append(m)
    return out


def network_models(c: Any, size: str, seeds: int, threads: int, work: Path, budget: dict[str, int],
                   sets: list[str], oof_folds: int) -> list[Model]:
    """`recommended`'s seeds (trained as the preset says, reused from ``work``), last checkpoint;
    a blended run's network alone (its blend: bench/learning_blend.py)."""
    name, layers = recommended(list(sets))
    out = []
    for seed in range(seeds):
        ls = [base_config(c, threads), *layers, {"train": {"seed": seed}}]
        run_dir = work / size / f"{name.replace(' ', '-')}-s{seed}"
        deep_run(c, [*ls, budget_layer(budget, ls)], run_dir)
        lr = load_run(run_dir, "last")
        cfg = lr.cfg
        label = name
        if lr.blend is not None:  # the network alone; its out-of-fold probabilities are oof/network.npz
            lr, label, oof_folds = dataclasses.replace(lr, blend=None), f"{name}: network alone", cfg.smooth.folds
        tracks = lr.run.read_tracks()
        prep = prepare(cfg)
        bank = prep.bank
        tids, vids = bank.ids(tracks["train"]), bank.ids(tracks["val"])
        t0 = time.perf_counter()
        probs = Predictor(lr, "cpu").probs(bank, NullReporter())  # every track: the timing's reference
        secs = time.perf_counter() - t0
        val = probs
        if oof_folds:
            oof = out_of_fold(cfg, bank, tracks["train"], run_dir / "oof", oof_folds, NullReporter(), execute,
                              "network.npz" if label != name else "probs.npz")
            train_p, train_y = [oof[t][0] for t in tracks["train"]], [oof[t][1] for t in tracks["train"]]
            source = f"out of fold ({oof_folds} sub-runs by source video)"
        else:
            train_p, train_y = [val[i] for i in tids], [bank.track_labels(i) for i in tids]
            source = "in-sample (the run's own predictions)"
        prior = trained_prior(cfg, class_counts([bank.track_labels(i) for i in tids]))
        m = Model(label, train_p, train_y, list(tracks["train"]), [val[i] for i in vids],
                  [bank.track_labels(i) for i in vids], prior, source, secs, seed).run((*SPECS, "box:raw"))
        m.time_decoding(list(probs.values()))
        print(f"[{size}] {label} seed {seed} ({source}): " + ", ".join(f"{s} {m.f1(s):.4f}" for s in m.labels)
              + f"; oracle {m.oracle():.4f}; ECE {m.ece()[0]:.3f} -> {m.ece()[1]:.3f}", flush=True)
        out.append(m)
    return out


def calibrated_mean(ms: list[Model], per: str) -> list[np.ndarray]:
    """Per track, the mean of the models' calibrated ``per`` probabilities (``train_p`` or ``val_p``)."""
    cals = [m.fitted["none"].calibration for m in ms]
    return [np.mean([c.calibrate(getattr(m, per)[k]) for c, m in zip(cals, ms, strict=True)], 0)
            for k in range(len(getattr(ms[0], per)))]


def ensembles(members: list[Model]) -> list[dict[str, Any]]:
    """Every 3 of ``members``: calibrated members averaged then decoded once (the decoder fitted on
    the averaged training probabilities) against decoding each and voting their labels."""
    out = []
    for triple in itertools.combinations(range(len(members)), 3):
        ms = [members[i] for i in triple]
        comb = Model("mean", calibrated_mean(ms, "train_p"), ms[0].train_y, ms[0].train_names,
                     calibrated_mean(ms, "val_p"), ms[0].val_y,
                     ms[0].prior, ms[0].source, 0.0, calibrate="none").run(("none", "box", DEFAULT))
        voted = []
        for k in range(len(ms[0].val_y)):
            onehot = np.stack([np.eye(N_CLASSES)[m.labels[DEFAULT][k]] for m in ms])
            voted.append(vote_probs(onehot).argmax(1))
        best = max(m.f1(DEFAULT) for m in ms)
        row = {"triple": triple, "best_member": best, "decode_once": comb.f1(DEFAULT),
               "decode_each_vote": f1_of(voted, ms[0].val_y), "soft_vote": comb.f1("none"),
               "soft_vote_box": comb.f1("box"), "oracle": comb.oracle()}
        print(f"  triple {triple}: members {[round(m.f1(DEFAULT), 4) for m in ms]}; mean then {DEFAULT} "
              f"{row['decode_once']:.4f}, {DEFAULT} each then vote {row['decode_each_vote']:.4f}, mean (none) "
              f"{row['soft_vote']:.4f}, mean + box {row['soft_vote_box']:.4f}", flush=True)
        out.append(row)
    return out


def with_baseline(members: list[Model], baseline: Model) -> list[Model]:
    """Each `recommended` seed's calibrated probabilities averaged with the baseline's (both out of
    fold on the training tracks, by the same source-video groups), then post-processed as one model:
    what `exprnet ensemble REC_RUN BASELINE_RUN --smooth ...` does."""
    out = []
    for m in members:
        assert m.train_names == baseline.train_names and all(
            np.array_equal(a, b) for a, b in zip(m.val_y, baseline.val_y, strict=True))
        pair = [m, baseline]
        comb = Model(f"mixed: recommended + {baseline.name} (mean)", calibrated_mean(pair, "train_p"), m.train_y,
                     m.train_names, calibrated_mean(pair, "val_p"), m.val_y, m.prior, m.source,
                     m.predict_s + baseline.predict_s, m.seed, calibrate="none").run(("none", "box", "viterbi", "hsmm"))
        comb.decode_all_s = float("nan")  # not timed: the members' decoding is
        print(f"  {comb.name} seed {m.seed}: " + ", ".join(f"{s} {comb.f1(s):.4f}" for s in comb.labels), flush=True)
        out.append(comb)
    return out


def _mean(v: list[float]) -> float:
    return float(np.mean(v))


def _pm(v: list[float]) -> str:
    return f"{np.mean(v):.3f} ± {np.std(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"


SPEC_NAMES = {"box:raw": "box:auto, uncalibrated (before issue 25)", "none": "calibrated, per frame",
              "box": "calibrated + box:auto", "viterbi": "calibrated + viterbi:auto", "hsmm": "calibrated + hsmm:auto"}


def decoding_summary(models: dict[str, list[Model]], ens: list[dict[str, Any]]) -> dict[str, Any]:
    """What the table and the targets read: per model and post-processing the F1 over seeds, the
    oracle, ECE, the decoding's share of prediction time; the reference baseline and oracle."""
    rows = []
    for name, ms in models.items():
        for spec in ms[0].labels:
            rows.append({"model": ms[0].name if name != "recommended" else name, "spec": spec, "f1": [m.f1(spec) for m in ms],
                         "oracle": [m.oracle() for m in ms], "ece_before": [m.ece()[0] for m in ms],
                         "ece_after": [m.ece()[1] for m in ms],
                         "decode_share": [m.decode_all_s / m.predict_s for m in ms], "source": ms[0].source,
                         "chosen": describe_record(ms[0].fitted[spec].record)})
    base = [r for r in rows if r["model"].endswith(" baseline") and r["spec"] == "box:raw"]
    ref = max(base, key=lambda r: _mean(r["f1"])) if base else None
    return {"rows": rows, "reference": ref, "ensembles": ens}


def decoding_table(size: str, s: dict[str, Any]) -> str:
    ref = s["reference"]
    b, o = (_mean(ref["f1"]), _mean(ref["oracle"])) if ref else (float("nan"), float("nan"))
    out = [f"| {size}: model | post-processing (fitted on training tracks) | val F1 | oracle (true segments) | "
           f"gap closed | ECE before → after | decoding / prediction time |", "|---|---|---|---|---|---|---|"]
    for r in s["rows"]:
        gap = (_mean(r["f1"]) - b) / (o - b) if ref else float("nan")
        out.append(f"| {r['model']} | {SPEC_NAMES.get(r['spec'], r['spec'])} ({r['chosen']}) | {_pm(r['f1'])} | "
                   f"{_pm(r['oracle'])} | {gap:+.2f} | {_mean(r['ece_before']):.3f} → {_mean(r['ece_after']):.3f} | "
                   f"{_mean(r['decode_share']):.1%} |")
    if ref:
        out.append(f"| **oracle**: {ref['model']}'s probabilities, true segments | summed log-probabilities | "
                   f"{o:.3f} | | 1.00 (reference: {ref['model']} + box {b:.3f}) | | |")
    for key, what in (("decode_once", f"mean of calibrated members, then {DEFAULT} once"),
                      ("decode_each_vote", f"{DEFAULT} each member, then vote labels"),
                      ("soft_vote", "mean of calibrated members, per frame"),
                      ("soft_vote_box", "mean of calibrated members + box:auto"),
                      ("best_member", f"best member of each triple ({DEFAULT})")):
        if s["ensembles"]:
            v = [e[key] for e in s["ensembles"]]
            gap = (_mean(v) - b) / (o - b) if ref else float("nan")
            out.append(f"| 3 recommended seeds ({len(v)} triple(s)) | {what} | {_pm(v)} | "
                       f"{_pm([e['oracle'] for e in s['ensembles']])} | {gap:+.2f} | | |")
    return "\n".join(out)
