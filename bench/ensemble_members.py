"""Does the default ensemble keep what its members earned? Ensemble beside its best member, per task.

On a small synthetic corpus (:mod:`exprnet.data.synthetic`: EXPR, VA_Set, AU_Set):

- EXPR, `make demo`'s shape: `recommended` (out-of-fold probabilities, ``smooth.folds: 3``), an LSTM
  that kept none, the logreg baseline: ``--method oof`` (weights chosen out of fold among the members
  that kept them, the LSTM weight 0) beside ``--method mean`` (equal weights: what the default fell
  back to before), each decoded once as the default does, beside the best member after its own
  post-processing;
- EXPR/VA/AU, ``--seeds`` multi-task networks of one preset: the task ensemble (VA weights and
  smoothing, AU per-AU thresholds and smoothing, fitted on the members' training predictions:
  in-sample here, the runs keep no ``RUN/oof/tasks.npz``) beside the plain one (equal weights, no
  smoothing, AU at 0.5: what it did before) and the best member (as ``exprnet predict`` decides).

Scores on the validation tracks; nothing is fitted on them. Prints the load average beside (the
trainings are slow on a shared machine).

    uv run python bench/ensemble_members.py --tracks 24 --frames 24000 --epochs 6 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from exprnet.cli import app
from exprnet.data.synthetic import CorpusSpec, make_corpus
from exprnet.tasks.registry import TASKS
from featurizer.core.annotations import read_labels
from typer.testing import CliRunner


def cli(*args: object) -> str:
    r = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    if r.exit_code != 0:
        raise SystemExit(f"exprnet {' '.join(map(str, args[:2]))} failed: {r.output[-2000:]}")
    return r.output


def plain_task_scores(out: Path, labels: dict[str, Path]) -> dict[str, float]:
    """The members' validation outputs (OUT/members/k/val) combined as before: mean, AU at 0.5."""
    members = sorted((out / "members").iterdir())
    got = {}
    for task, folder in (("va", "va"), ("au", "au")):
        files = {p.stem: p for p in (labels[task] / "Validation_Set").glob("*.txt")}
        names = sorted(t.stem for t in (members[0] / "val" / folder).glob("*.npy") if t.stem in files)
        y = np.concatenate([read_labels(files[t]).values for t in names])
        mean = np.concatenate([np.mean([np.load(d / "val" / folder / f"{t}.npy") for d in members], 0) for t in names])
        pred = (mean >= 0.5).astype(np.int8) if task == "au" else mean
        got[task] = TASKS[task].val_scores(pred, y)[f"val_{TASKS[task].primary}"]
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=24)
    ap.add_argument("--frames", type=int, default=24_000)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--preset", default="demo", help="the multi-task networks' preset")
    ap.add_argument("--keep", help="a folder to keep the corpus and runs in (default: a temporary one)")
    a = ap.parse_args()
    root = Path(a.keep or tempfile.mkdtemp(prefix="ens-members-"))
    c = make_corpus(root / "c", CorpusSpec(n_tracks=a.tracks, frames=a.frames, seed=7))
    data = ["--store", c.store, "--labels", c.labels]
    tasks = [*data, "--labels", c.va_labels, "--labels", c.au_labels]
    feats = ["--features", "visual,audio", "--set", f"train.epochs={a.epochs}", "--no-baseline"]
    runs = root / "runs"
    cli("baseline", *data, "--features", "visual,audio", "--out", runs / "baseline")
    cli("train", "--preset", "recommended", *feats, "--set", "train.threads=1", *data, "--out", runs / "recommended")
    cli("train", "--preset", a.preset, *feats, *data, "--out", runs / "lstm")
    for s in range(a.seeds):
        cli("train", "--preset", a.preset, *feats, "--seed", s, *tasks, "--out", runs / f"mt{s}")
    print(f"load average after training: {os.getloadavg()}")
    expr = [runs / "recommended", runs / "lstm", runs / "baseline"]
    print("EXPR, recommended + lstm (no out-of-fold probabilities) + baseline:")
    for method in ("oof", "mean"):
        cli("ensemble", *expr, *data, "--method", method, "--out", root / f"ens-{method}", "--device", "cpu")
        m = json.loads((root / f"ens-{method}" / "metrics.json").read_text())
        w = np.asarray(m["weights"]) / sum(m["weights"])
        print(f"  --method {method:4s}: ensemble {m['val_f1']:.4f}  best member {m['best_member_f1_decoded']:.4f}  "
              f"(weights {np.round(w, 2).tolist()}, members {[round(x['val_f1_decoded'], 4) for x in m['members']]})")
    mt = [runs / f"mt{s}" for s in range(a.seeds)]
    cli("ensemble", *mt, *tasks, "--out", root / "ens-tasks", "--device", "cpu")
    m = json.loads((root / "ens-tasks" / "metrics.json").read_text())
    plain = plain_task_scores(root / "ens-tasks", {"va": c.va_labels, "au": c.au_labels})
    print(f"{a.seeds} multi-task {a.preset} networks:   fitted   plain   best member   members")
    for task, v in m["per_task"].items():
        key = f"val_{TASKS[task].primary}"
        print(f"  {task.upper():4s} {key:10s}  {v[key]:.4f}   {plain.get(task, v[key]):.4f}   {v['best_member']:.4f}"
              f"        {[round(x, 4) for x in v['member']]}")
    print(f"load average at the end: {os.getloadavg()}; outputs in {root}")


if __name__ == "__main__":
    main()
