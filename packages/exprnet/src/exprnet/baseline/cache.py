"""The baseline's score beside a trained run, computed once per store, features and split.

``exprnet train`` ends by printing the default baseline (class-balanced logistic regression,
box smoothing with a cross-validated width, the run's own features and ``data.normalize``) on the
run's split. The score is cached in ``$EXPRNET_CACHE`` (default ``$XDG_CACHE_HOME/exprnet`` or
``~/.cache/exprnet``) under ``baselines/<key>.json``; the key covers the store, the features
and how each was made, the normalisation, the training and validation tracks and their labels,
so a changed label file or a re-extracted feature gives a new key.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from featurizer.core.annotations import find_annotations, read_annotation
from featurizer.core.files import atomic_write_json
from featurizer.core.store import FeatureStore

from ..config import BaselineConfig, RunConfig, SmoothConfig
from ..data.tasks import expr_labels_dir
from ..postprocess.choice import describe_record
from ..reports.progress import NullReporter, Reporter
from ..training.experiment import prepare
from .fit import evaluate_baseline

KEEP = ("best_val_f1", "val_f1_raw", "smoothing", "classifier", "train_cv_f1")


def cache_dir() -> Path:
    if os.environ.get("EXPRNET_CACHE"):
        return Path(os.environ["EXPRNET_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "exprnet"


def baseline_config(cfg: RunConfig, train: list[str], val: list[str]) -> RunConfig:
    """The default baseline on a run's data settings and split."""
    c = cfg.model_copy(deep=True)
    c.baseline, c.smooth = BaselineConfig(), SmoothConfig(kind="box", width="auto")
    c.train.seed = 0  # one baseline per split, whatever the run's seed
    c.data.train_tracks, c.data.val_tracks = list(train), list(val)
    return c


def cache_key(cfg: RunConfig) -> str:
    d = cfg.data
    train, val = sorted(d.train_tracks or []), sorted(d.val_tracks or [])
    store = FeatureStore(str(d.store), mode="r")
    ident = {f: (store.feature(train[0], f).identity if store.feature(train[0], f) else None)
             for f in d.features} if train else {}
    url = str(Path(str(d.store)).resolve()) if "://" not in str(d.store) else str(d.store)
    h = hashlib.sha256(json.dumps({
        "store": url, "features": d.features, "identity": ident, "normalize": d.normalize,
        "present_flags": d.present_flags, "speech_gate": d.speech_gate, "baseline": cfg.baseline.model_dump() if cfg.baseline else None,
        "smooth": cfg.smooth.model_dump(), "seed": cfg.train.seed, "train": train, "val": val,
    }, sort_keys=True, default=str).encode())
    files = find_annotations(expr_labels_dir(d.labels, "the baseline"), (d.train_split, d.val_split))
    for t in train + val:
        if t in files:
            h.update(t.encode() + read_annotation(files[t].path).tobytes())
    return h.hexdigest()[:24]


def cached_baseline(cfg: RunConfig, train: list[str], val: list[str],
                    reporter: Reporter | None = None) -> dict[str, Any]:
    """The baseline's metrics on this split (from the cache, or computed and cached)."""
    reporter = reporter or NullReporter()
    bcfg = baseline_config(cfg, train, val)
    path = cache_dir() / "baselines" / f"{cache_key(bcfg)}.json"
    if path.exists():
        try:
            return json.loads(path.read_text()) | {"cached": True}
        except (OSError, json.JSONDecodeError):
            pass  # a damaged cache entry is recomputed
    prep = prepare(bcfg)
    metrics = evaluate_baseline(bcfg, prep.bank, prep.split.train, prep.split.val, reporter).metrics
    kept = {k: metrics[k] for k in KEEP}
    atomic_write_json(path, kept)
    return kept | {"cached": False}


def comparison_line(run_metrics: dict[str, Any], base: dict[str, Any]) -> str:
    """``this run ... | baseline ...`` on one line (what ``exprnet train`` prints at the end)."""
    sm = base.get("smoothing") or {}
    ours = f"this run: val F1 {run_metrics['best_val_f1']:.4f}"
    if run_metrics.get("val_f1_smoothed") is not None:
        ours += f", post-processed ({describe_record(run_metrics['smoothing'])}) {run_metrics['val_f1_smoothed']:.4f}"
    return (f"{ours} | baseline ({base['classifier']} + {describe_record(sm)}, same split"
            f"{', cached' if base.get('cached') else ''}): {base['best_val_f1']:.4f} "
            f"(unsmoothed {base['val_f1_raw']:.4f})")
