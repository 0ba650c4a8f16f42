"""The learning benchmark's runs: corpora, budgets, one network run, its scores, votes over triples.

Shared by bench/learning.py (the validation split) and bench/learning_oof.py (out of fold);
``TRAINED`` counts the network runs this process trained (what its peak RSS covers).
"""

from __future__ import annotations

import csv
import itertools
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from exprnet.config import build_config, parse_set
from exprnet.config.presets import load_preset
from exprnet.data.synthetic import SIZES, Corpus, class_shares, make_corpus
from exprnet.ensemble.combine import vote_probs
from exprnet.postprocess.calibration import read_calibration
from exprnet.postprocess.choice import apply_all, post_for_run
from exprnet.prediction.predict import load_run, run_probs
from exprnet.reports.metrics import macro_f1
from exprnet.reports.progress import NullReporter
from exprnet.training import experiment
from exprnet.training.runfolder import RunFolder
from featurizer.core.annotations import find_annotations, read_annotation

# Training budget per network: small, epochs over its ~45k training frames; large, optimizer steps
# for about this many training frames (a third of one pass over its ~1.1M: the large corpus has
# many more subjects, not more of each), so every row costs about the same.
BUDGET = {"small": {"epochs": 12}, "large": {"frames": 400_000}}
QUICK = {"small": {"epochs": 2}, "large": {"frames": 20_000}}
TRAINED = {"runs": 0}  # network runs trained (not reused) by this process: what its peak RSS covers


def recommended(sets: list[str]) -> tuple[str, list[dict[str, Any]]]:
    """`recommended` with ``--set`` overrides: its name (in the table and its run folders) and layers."""
    return "recommended" + "".join(f" +{s}" for s in sets), [load_preset("recommended"), parse_set(sets)]


def budget_layer(budget: dict[str, int], layers: list[dict[str, Any]]) -> dict[str, Any]:
    if "epochs" in budget:
        return {"train": {"epochs": budget["epochs"]}}
    cfg = build_config(*layers).resolved()
    return {"train": {"steps": -(-budget["frames"] // (cfg.train.batch_size * (cfg.model.segment or 1)))}}


def corpus_for(root: Path, size: str) -> Any:
    """Generate once; reuse when the spec is unchanged."""
    spec = SIZES[size]
    stamp = root / "spec.json"
    want = json.dumps(spec.__dict__, sort_keys=True)
    if stamp.exists() and stamp.read_text() == want:
        files = find_annotations(root / "annotations")
        return Corpus(root, root / "features.zarr", root / "annotations", spec,
                      {t: f.split for t, f in files.items()}, {t: read_annotation(f.path) for t, f in files.items()},
                      {"visual": spec.visual_dim, "audio": spec.audio_dim})
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    c = make_corpus(root, spec)
    stamp.write_text(want)
    shares = ", ".join(f"{k} {v:.1%}" for k, v in class_shares(c).items())
    n = sum(len(v) for v in c.label_arrays.values())
    print(f"[{size}] generated {len(c.tracks)} tracks, {n:,} frames in {time.perf_counter() - t0:.0f} s; "
          f"labelled shares: {shares}", flush=True)
    return c


def base_config(c: Any, threads: int) -> dict[str, Any]:
    return {"data": {"store": str(c.store), "labels": str(c.labels), "features": ["visual", "audio"]},
            "train": {"device": "cpu", "threads": threads}}


def deep_run(c: Any, layers: list[dict[str, Any]], out: Path, want_probs: bool = False
             ) -> tuple[float, float, dict[str, np.ndarray], float]:
    """Train (or reuse a finished run of the same config in ``out``); score the last checkpoint
    with the run's smoothing. Returns (smoothed F1, raw F1, smoothed val probabilities per track,
    training frames/s)."""
    cfg = build_config(*layers)
    run = RunFolder(out)
    if not (run.finished() and run.read_config().to_dict() == cfg.resolved().to_dict()):  # else: reuse it
        shutil.rmtree(out, ignore_errors=True)
        experiment.train(cfg, out)
        TRAINED["runs"] += 1
    fps = train_fps(run)
    m = run.read_metrics()
    if not want_probs and m["best_epoch"] == m["last_epoch"] and m.get("smoothing"):  # last = best: scored
        return m["smoothing"]["val_f1"], m["best_val_f1"], {}, fps
    raw, sm = last_probs(c, out)
    return corpus_f1(c, sm), corpus_f1(c, raw), sm, fps


def corpus_f1(c: Any, probs: dict[str, np.ndarray]) -> float:
    """Mean F1 of per-track probabilities against the corpus labels."""
    return macro_f1(np.concatenate([c.label_arrays[t] for t in probs]), np.concatenate(list(probs.values())).argmax(1))


def train_fps(run: RunFolder) -> float:
    with open(run.epochs_csv) as f:
        return float(np.mean([float(r["frames_per_s"]) for r in csv.DictReader(f)]))


def last_probs(c: Any, out: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A run's last-checkpoint probabilities on its validation tracks: raw, and smoothed with the
    run's own smoothing (its width chosen on its training tracks)."""
    lr = load_run(out, "last")
    tracks = lr.run.read_tracks()["val"]
    proc, _ = post_for_run(lr.run.recorded_smoothing(), "run", lambda: None)  # type: ignore[arg-type,return-value]
    bank, probs = run_probs(lr, str(c.store), tracks, {t: c.label_arrays[t] for t in tracks}, "cpu", NullReporter())
    raw = {t: probs[i] for i, t in enumerate(bank.tracks)}
    dec = apply_all(proc, list(raw.values()), read_calibration(out))
    return raw, {t: d.probs for t, d in zip(raw, dec, strict=True)}


def vote_rows(c: Any, members: list[dict[str, np.ndarray]], f1s: list[float], size: str, name: str,
              where: str = "") -> list[dict[str, Any]]:
    """The vote (and the mean) of 3 seeds of ``name`` (`recommended`, with any ``--set``), over every 3 of the seeds trained
    (``--vote-seeds``), and how often each is at least as good as its best member."""
    tracks = list(members[0])
    y = np.concatenate([c.label_arrays[t] for t in tracks])
    P = np.stack([np.concatenate([m[t] for t in tracks]) for m in members])
    return [triples_row(P, y, f1s, how, size, name, where) for how in ("vote", "mean")]


def triples_row(P: np.ndarray, y: np.ndarray, f1s: list[float], how: str, size: str, name: str, where: str
                ) -> dict[str, Any]:
    """``how`` (vote: majority of argmaxes; mean: mean probabilities) of every 3 members of ``P``
    (members, frames, classes), against each triple's best member."""
    combine = vote_probs if how == "vote" else lambda Q: Q.mean(0)
    triples = list(itertools.combinations(range(len(P)), 3))
    scores = [macro_f1(y, combine(P[list(t)]).argmax(1)) for t in triples]
    over = [s - max(f1s[i] for i in t) for s, t in zip(scores, triples, strict=True)]
    met = sum(d >= 0 for d in over)
    print(f"[{size}] {how} of 3 {name} seeds{where} over {len(triples)} triple(s) of {len(P)}: F1 "
          f"{np.mean(scores):.4f} (members {np.mean(f1s):.4f} +- {np.std(f1s):.4f}); minus its best member "
          f"{np.mean(over):+.4f} on average, at least its best in {met} of {len(triples)}", flush=True)
    what = (f"the 3 {name} seeds" if len(triples) == 1 else
            f"3 {name} seeds ({len(triples)} triples of {len(P)} seeds; >= best member in {met})")
    return {"method": f"{how} of {what}{where}", "normalize": "track", "f1": scores, "fps": [float("nan")],
            "kind": how, "over": over}
