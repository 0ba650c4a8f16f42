"""Learning benchmark for the three tasks: baselines beside networks, single- beside multi-task.

On the synthetic corpus (:mod:`exprnet.data.synthetic`, which carries VA_Set and AU_Set: valence,
arousal and AUs that follow the expressions and slow latents shown in the visual features, each
task on its own subset of source videos) at both sizes, per task, on the validation tracks that
task annotates (the official split):

    VA    VA baseline (ridge + smoothing)       recommended-va      recommended-all (its VA head)
    AU    AU baseline (logreg + thr/smoothing)  recommended-au      recommended-all (its AU head)
    EXPR  EXPR baseline (logreg + box)          recommended (raw)   recommended-all (its EXPR head)

Scores: VA CCC (mean of valence and arousal, pooled), AU F1 (mean of 12), EXPR F1 (mean of 8);
mean +- sd over ``--seeds``. Nothing is chosen on validation: baselines fit their post-processing
out of fold on training tracks; networks are scored at their *last* epoch (fixed budget), raw
(no post-processing for any task, EXPR's `recommended` included, so single and multi compare
like for like); ``+ post (train)`` rows add the task's post-processing (VA smoothing width; AU
per-AU thresholds and smoothing) fitted on the network's own training-track predictions (in sample),
``+ post (oof)`` rows the run as it predicts: with ``--folds`` >= 2 each preset runs its whole
post-processing as shipped, fitted on that many sub-runs' out-of-fold predictions (every head
blended with its task baseline, VA width, AU thresholds in RUN/task_post.json; EXPR's blend,
calibration and HMM decoding), applied to the last checkpoint. Targets printed at the end: `recommended` for VA and AU >= its task's baseline;
`recommended-all` within 0.02 of single-task on every task (or better).

    uv run python bench/learning_tasks.py --size small --budget-frames 300000
    uv run python bench/learning_tasks.py --size small --tasks au --no-multi --budget-frames 120000
    uv run python bench/learning_tasks.py --size both --seeds 2
    uv run python bench/learning_tasks.py --size small --seeds 2 --root R --reuse   # rescore kept runs
    uv run python bench/learning_tasks.py --size small --seeds 2 --corpus-seed 1 --rows-json d1.json
    uv run python bench/learning_tasks.py --pool d0.json d1.json d2.json   # targets over corpus draws

With ``--seeds`` >= 2 and ``--folds`` >= 2 each preset's seeds are also combined by ``exprnet
ensemble``'s default and set beside their best member (bench/learning_tasks_ensemble.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from exprnet.baseline.fit import evaluate_baseline
from exprnet.baseline.multi import fit_tasks
from exprnet.config import BaselineConfig, build_config
from exprnet.config.presets import load_preset
from exprnet.data.synthetic import SIZES, make_corpus
from exprnet.training import experiment
from exprnet.training.experiment import prepare
from exprnet.training.runfolder import RunFolder
from learning_tasks_ensemble import ensemble_rows
from learning_tasks_targets import NAMES, OOF, SINGLE, pool, print_targets

TASKS = {t: (key, NAMES[t]) for t, key in (("va", "val_va"), ("au", "val_au_f1"), ("expr", "val_f1"))}
POST = "+ post (train)"  # the task's post-processing fitted on the network's training-track predictions
BUDGET = {"small": 540_000, "large": 400_000}  # training frames per network (bench/learning.py's budgets)


def corpus(root: Path, size: str, draw: int = 0) -> Any:
    """The corpus of ``size``; ``draw`` > 0 another independent draw of it (other subjects, tracks and
    validation split), to judge a size on more validation tracks than one draw holds."""
    spec = replace(SIZES[size], seed=draw) if draw else SIZES[size]
    stamp = root / "spec.txt"
    if stamp.exists() and stamp.read_text() == repr(spec):
        from exprnet.data.synthetic import Corpus

        return Corpus(root, root / "features.zarr", root / "annotations", spec)
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    c = make_corpus(root, spec)
    stamp.write_text(repr(spec))
    print(f"[{size}] generated {len(c.tracks)} tracks ({len(c.va_arrays)} with VA, {len(c.au_arrays)} with AU) "
          f"in {time.perf_counter() - t0:.0f} s", flush=True)
    return c


def labels_of(c: Any, tasks: list[str]) -> list[str]:
    d = {"expr": str(c.labels), "va": str(c.va_labels), "au": str(c.au_labels)}
    return [d[t] for t in tasks]


def data_layer(c: Any, tasks: list[str], threads: int) -> dict[str, Any]:
    labels = labels_of(c, tasks)
    return {"data": {"store": str(c.store), "labels": labels[0] if len(labels) == 1 else labels,
                     "features": ["visual", "audio"]}, "train": {"device": "cpu", "threads": threads}}


def baselines(c: Any, seeds: int, threads: int) -> dict[str, list[float]]:
    """Each task's baseline, per seed (VA/AU: exprnet.baseline.multi; EXPR: logreg + box:auto)."""
    torch.set_num_threads(threads)
    out: dict[str, list[float]] = {t: [] for t in TASKS}
    for seed in range(seeds):
        cfg = build_config(data_layer(c, ["va", "au"], threads), {"train": {"seed": seed}}).resolved()
        cfg.baseline = BaselineConfig()
        prep = prepare(cfg)
        m = fit_tasks(cfg, prep.bank, ["va", "au"], prep.split.train, prep.split.val)
        out["va"].append(m["val_va"])
        out["au"].append(m["val_au_f1"])
        ecfg = build_config(data_layer(c, ["expr"], threads), {"train": {"seed": seed},
                            "baseline": {"classifier": "logreg"}, "data": {"normalize": "track"},
                            "smooth": {"kind": "box", "width": "auto", "calibrate": "none"}}).resolved()
        eprep = prepare(ecfg)
        out["expr"].append(evaluate_baseline(ecfg, eprep.bank, eprep.split.train, eprep.split.val).metrics["best_val_f1"])
    return out


def network(c: Any, preset: str, tasks: list[str], seed: int, frames: int, threads: int, out: Path,
            sets: dict[str, Any], folds: int = 0, reuse: bool = False) -> dict[str, float]:
    """Train ``preset`` on ``tasks`` for ``frames`` training frames; each task's score at the last
    epoch. ``folds`` >= 2: the preset's whole post-processing as shipped, fitted on that many
    sub-runs' out-of-fold predictions (each sub-run the same budget): its blend of every head with
    the task baseline, EXPR's calibration and decoding, VA's width, AU's thresholds (the ``+ post``
    rows are the run as it predicts; the last-epoch row stays the network alone); otherwise none."""
    smooth = {"folds": folds} if folds >= 2 else {"kind": "none", "calibrate": "none", "folds": 0, "baseline": "none"}
    layers = [load_preset(preset), data_layer(c, tasks, threads), {"train": {"seed": seed}, "smooth": smooth}, sets]
    cfg = build_config(*layers).resolved()
    steps = math.ceil(frames / (cfg.train.batch_size * (cfg.model.segment or 1)))
    layers.append({"train": {"steps": steps}})
    t0 = time.perf_counter()
    if not (reuse and RunFolder(out).finished()):
        shutil.rmtree(out, ignore_errors=True)
        experiment.train(build_config(*layers), out)
    with open(RunFolder(out).epochs_csv) as f:
        last = list(csv.DictReader(f))[-1]
    print(f"  {preset} on {'+'.join(tasks)} seed {seed}: {steps} steps{f' (+ {folds} sub-runs)' if folds else ''} in "
          f"{time.perf_counter() - t0:.0f} s; last epoch "
          + ", ".join(f"{TASKS[t][1]} {float(last[TASKS[t][0]]):.4f}" for t in tasks), flush=True)
    return {t: float(last[TASKS[t][0]]) for t in tasks}


def task_labels(c: Any, task: str) -> dict[str, tuple[str, np.ndarray]]:
    """track -> (split, labels) of the tracks ``task`` annotates."""
    from featurizer.core.annotations import find_annotations, read_labels

    d = {"va": c.va_labels, "au": c.au_labels}[task]
    return {t: (a.split, read_labels(a.path).values) for t, a in find_annotations(d).items()}


def with_post(c: Any, run: Path, task: str) -> tuple[float, float | None]:
    """The network's last checkpoint on the validation tracks, then its task's post-processing (VA
    smoothing width; AU per-AU thresholds and smoothing): fitted on its own predictions of the
    training tracks (in sample), and the one the run fitted on out-of-fold predictions
    (``RUN/task_post.json``, None without ``smooth.folds``); nothing from validation. The two
    validation scores."""
    from exprnet.prediction.tasks import predict_tasks
    from exprnet.tasks.metrics import au_scores, va_scores
    from exprnet.tasks.post import fit_au_post, fit_va_post
    from exprnet.training.task_post import posts_of, read_task_post

    labels = task_labels(c, task)
    out = run / "bench_predict"
    predict_tasks(run, str(c.store), sorted(labels), out, checkpoint="last", device="cpu", raw=True)
    pred = {t: np.load(out / task / f"{t}.npy") for t in labels}
    tr = [t for t, (s, _) in labels.items() if s == "Train_Set"]
    va = [t for t, (s, _) in labels.items() if s != "Train_Set"]
    y = np.concatenate([labels[t][1] for t in va])
    rec = read_task_post(run)
    oof = posts_of(rec).get(task) if rec and rec["source"].startswith("out of fold") else None
    fit, score = (fit_va_post, lambda p: va_scores(p, y)["va"]) if task == "va" else \
        (fit_au_post, lambda p: au_scores(p, y)["au_f1"])
    in_sample = fit([pred[t] for t in tr], [labels[t][1] for t in tr])
    return (score(np.concatenate(in_sample.apply([pred[t] for t in va]))),
            None if oof is None else score(np.concatenate(oof.apply([pred[t] for t in va]))))


def expr_post(c: Any, run: Path, multi: bool) -> float:
    """EXPR's validation F1 of the run as it predicts (its blend, calibration and decoding fitted out
    of fold) at the last checkpoint (bench/learning.py's rule: nothing chosen on validation)."""
    from exprnet.prediction.predict import predict
    from exprnet.prediction.tasks import predict_tasks
    from featurizer.core.annotations import find_annotations

    val = sorted(t for t, a in find_annotations(c.labels).items() if a.split != "Train_Set")
    out = run / "bench_expr"
    if multi:
        return float(predict_tasks(run, str(c.store), val, out, checkpoint="last", labels=[str(c.labels)],
                                   device="cpu")["f1"])
    return float(predict(run, str(c.store), val, out, checkpoint="last", labels_dir=str(c.labels), device="cpu")["f1"])


def run_size(size: str, args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    c = corpus(root / size, size, args.corpus_seed)
    frames = args.budget_frames or BUDGET[size]
    sets = {"train": {"batch_size": args.batch_size}} if args.batch_size else {}
    t0 = time.perf_counter()
    base = baselines(c, args.seeds, args.threads)
    print(f"[{size}] baselines in {time.perf_counter() - t0:.0f} s", flush=True)
    single: dict[str, list[float]] = {t: [] for t in TASKS}
    multi: dict[str, list[float]] = {t: [] for t in TASKS}
    posted: dict[str, list[float]] = {t: [] for t in TASKS}
    mposted: dict[str, list[float]] = {t: [] for t in TASKS}
    oofed: dict[str, list[float]] = {t: [] for t in TASKS}
    moofed: dict[str, list[float]] = {t: [] for t in TASKS}

    def post_rows(out: Path, t: str, ins: dict[str, list[float]], oo: dict[str, list[float]]) -> None:
        a, b = with_post(c, out, t)
        ins[t].append(a)
        if b is not None:
            oo[t].append(b)

    runs: dict[str, list[Path]] = {}
    for seed in range(args.seeds):
        for t in args.tasks if args.single else []:
            out = root / "runs" / f"{size}-{t}-s{seed}"
            runs.setdefault(SINGLE[t], []).append(out)
            single[t].append(network(c, SINGLE[t], [t], seed, frames, args.threads, out, sets, args.folds, args.reuse)[t])
            if t != "expr":
                post_rows(out, t, posted, oofed)
            elif args.folds >= 2:
                oofed[t].append(expr_post(c, out, False))
        if not args.multi:
            continue
        out = root / "runs" / f"{size}-all-s{seed}"
        runs.setdefault("recommended-all", []).append(out)
        m = network(c, "recommended-all", ["expr", "va", "au"], seed, frames, args.threads, out, sets, args.folds,
                    args.reuse)
        for t in TASKS:
            multi[t].append(m[t])
            if t != "expr":
                post_rows(out, t, mposted, moofed)
            elif args.folds >= 2:
                moofed[t].append(expr_post(c, out, True))
    rows = []
    for t in args.tasks:
        rows += [{"size": size, "task": t, "method": f"{t.upper()} baseline", "scores": base[t]}]
        rows += [{"size": size, "task": t, "method": SINGLE[t], "scores": single[t]}] if args.single else []
        rows += [{"size": size, "task": t, "method": "recommended-all", "scores": multi[t]}] if args.multi else []
        if t == "expr":
            for name, oo in ([(SINGLE[t], oofed)] if args.single else []) + ([("recommended-all", moofed)] if args.multi else []):
                if oo[t]:
                    rows.append({"size": size, "task": t, "method": f"{name} {OOF}", "scores": oo[t]})
            continue
        for name, ins, oo in ([(SINGLE[t], posted, oofed)] if args.single else []) + \
                ([("recommended-all", mposted, moofed)] if args.multi else []):
            rows.append({"size": size, "task": t, "method": f"{name} {POST}", "scores": ins[t]})
            if oo[t]:
                rows.append({"size": size, "task": t, "method": f"{name} {OOF}", "scores": oo[t]})
    if args.folds >= 2:
        every = {p: [t for t, q in SINGLE.items() if q == p] for p in SINGLE.values()}
        every["recommended-all"] = ["expr", "va", "au"]
        labels = {p: labels_of(c, ts) for p, ts in every.items()}
        rows += ensemble_rows(size, str(c.store), labels, runs, every, args.tasks, root)
    return rows


def fmt(s: list[float]) -> str:
    return f"{np.mean(s):.4f} +- {np.std(s):.4f}" if len(s) > 1 else f"{s[0]:.4f}"


def report(rows: list[dict[str, Any]]) -> None:
    print("\n| size | task | method | score |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {TASKS[r['task']][1]} | {r['method']} | {fmt(r['scores'])} |")
    print_targets(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=("small", "large", "both"), default="both")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--budget-frames", type=int, default=None,
                    help="training frames per network (default: small 540k = 12 epochs, large 400k)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--tasks", default="va,au,expr", help="which tasks' rows (recommended-all is trained on all three)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--folds", type=int, default=3, help="every network's out-of-fold sub-runs, the presets' whole "
                    "post-processing fitted on them (0: none, no post-processing, no oof rows)")
    ap.add_argument("--no-multi", dest="multi", action="store_false", help="skip recommended-all")
    ap.add_argument("--no-single", dest="single", action="store_false", help="skip the single-task networks")
    ap.add_argument("--root", type=Path, default=None, help="where corpora and runs go (default: a temporary folder)")
    ap.add_argument("--reuse", action="store_true", help="keep the finished runs under --root (refit nothing but "
                    "the scores and ensembles)")
    ap.add_argument("--corpus-seed", type=int, default=0, help="another independent draw of each corpus size "
                    "(0: the shipped one); run several to judge a size on more validation tracks")
    ap.add_argument("--rows-json", type=Path, default=None, help="also write the rows (every seed's score) here")
    ap.add_argument("--pool", type=Path, nargs="+", default=None, help="train nothing: the targets pooled over "
                    "these --rows-json files (one per corpus draw)")
    args = ap.parse_args()
    if args.pool:
        return pool(args.pool)
    args.tasks = [t for t in args.tasks.split(",") if t]
    root = args.root or Path(tempfile.mkdtemp(prefix="learning_tasks_"))
    rows = []
    for size in (("small", "large") if args.size == "both" else (args.size,)):
        rows += run_size(size, args, root)
        report(rows)
        if args.rows_json:
            args.rows_json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
