"""What ``exprnet reproduce`` trains: each table row as its preset's runs (one per seed), the
features they need, and which of those the store lacks.

Runs are named by their configuration (``runs/<encoder>-<digest>-s<seed>``), so rows that share a
configuration (Table 3 repeats rows of Tables 1 and 4) share their runs, and a run whose config
changed is a new folder, never a stale one.

``va`` is the authors' released valence-arousal model (preset ``va-paper``), planned as one more
row: the paper has no VA table, so its row carries no paper figure. Tables 1-4 need an EXPR
annotation folder and ``va`` a VA_Set folder (the task each folder's header says).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featurizer.core.annotations import find_annotations, folder_task
from featurizer.core.store import FeatureStore

from ..config import RunConfig, build_config
from ..config.presets import load_preset
from ..data.extraction import extract_command
from ..errors import ConfigError, LabelError
from ..training.experiment import RUNTIME_KEYS
from .tables import TABLE2_PRESET, TABLES, PaperRow, modality, model_rows, paper_rows

# `--standin demo`: the demo store's weight-free features in place of the paper's deep ones
# (egemaps, compare and fbank are the paper's own names and need no stand-in).
DEMO_STANDINS = {"densenet": "hog", "mae": "hog", "ires100": "hog", "fau": "hog", "mobilenet": "hog",
                 "wav2vec": "fbank", "vggish": "fbank", "ecapatdnn": "compare", "hubert": "egemaps"}
VA_TABLE, VA_PRESET = "va", "va-paper"  # the authors' released VA model: no paper figure


@dataclass
class RowPlan:
    row: PaperRow
    preset: str
    features: list[str]  # as trained: the store's names, stand-ins applied, duplicates merged
    standins: dict[str, str]  # paper feature -> the store feature standing in for it
    config: RunConfig  # resolved, the preset's seed
    runs: list[tuple[int, Path]] = field(default_factory=list)  # (seed, run folder or cv folder)


@dataclass
class Plan:
    tables: list[str]
    seeds: int
    out: Path
    store: str
    labels: str
    rows: list[RowPlan]  # the model rows of Tables 1, 3, 4 asked for, or VA's one row
    cv: RowPlan | None  # Table 2: the configuration it cross-validates, one cv folder per seed
    overrides: dict[str, Any]
    standins: dict[str, str]
    features: list[str] = field(default_factory=list)  # every feature the runs read
    missing: dict[str, str] = field(default_factory=dict)  # feature -> on how many tracks it is missing
    n_tracks: int = 0

    def commands(self, videos: str | None = None, faces: str | None = None) -> dict[str, str]:
        """feature -> the `featurizer extract` command that makes it in the store."""
        return {f: extract_command(self.store, [f], self.labels, videos, faces) for f in self.missing}

    def vote_folder(self, k: int) -> Path:
        return self.out / "table3-vote" / f"s{k}"


def parse_standins(specs: list[str] | None) -> dict[str, str]:
    """``demo`` (the shipped mapping) and/or ``paper=stored[,paper=stored]``, repeatable."""
    out: dict[str, str] = {}
    for spec in specs or []:
        for item in (s.strip() for s in spec.split(",")):
            if item == "demo":
                out.update(DEMO_STANDINS)
            elif "=" in item and all(item.split("=", 1)):
                paper, stored = (s.strip() for s in item.split("=", 1))
                out[paper] = stored
            elif item:
                raise ConfigError(f"--standin {spec}", f"{item!r} is neither `demo` nor PAPER=STORED",
                                  "e.g. --standin demo or --standin mae=hog,hubert=egemaps")
    return out


def digest(cfg: RunConfig) -> str:
    """Hash of what a run learns from (runtime keys and the seed left out)."""
    d = cfg.resolved().to_dict()
    for path in (*RUNTIME_KEYS, ("train", "seed")):
        node = d
        for k in path[:-1]:
            node = node.get(k, {})
        node.pop(path[-1], None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


def row_plan(row: PaperRow, preset: str, standins: dict[str, str], layers: list[dict[str, Any]]) -> RowPlan:
    used = list(dict.fromkeys(standins.get(f, f) for f in row.features))
    cfg = build_config(load_preset(preset), *layers, {"data": {"features": used}},
                       source=f"reproduce {preset}").resolved()
    return RowPlan(row, preset, used, {f: standins[f] for f in row.features if f in standins}, cfg)


def with_seed(cfg: RunConfig, seed: int, name: str) -> RunConfig:
    c = cfg.model_copy(deep=True)
    c.train.seed, c.name = seed, name
    return c


def va_row() -> PaperRow:
    """The authors' VA release as a row of its own (``va``): the preset's encoder and features, no
    paper figure (``f1`` NaN)."""
    cfg = build_config(load_preset(VA_PRESET)).resolved()
    feats = cfg.data.features
    return PaperRow(VA_TABLE, VA_TABLE, cfg.model.encoder, tuple(f for f in feats if modality(f) == "visual"),
                    tuple(f for f in feats if modality(f) != "visual"), float("nan"))


def check_task(table: str, labels: str) -> None:
    """Tables 1-4 train EXPR and need an EXPR folder; ``va`` a VA_Set folder (one line otherwise)."""
    task, want = folder_task(labels), ("va" if table == VA_TABLE else "expr")
    if task == want:
        return
    hint = ("TABLE va trains the authors' VA model: pass a VA_Set folder, whose files' header is valence,arousal"
            if want == "va" else f"table {table} is EXPR: pass the EXPR_Set folder (header Neutral,Anger,...), "
            "or TABLE va for the authors' VA model")
    raise LabelError(f"--labels {labels}", f"its annotation files' header says {task.upper()} labels", hint)


def make_plan(table: str, store: str, labels: str, out: str | Path, seeds: int = 1,
              standins: dict[str, str] | None = None, overrides: dict[str, Any] | None = None,
              device: str | None = None, only: list[str] | None = None) -> Plan:
    """The plan of ``table`` (1-4, all or va); ``only``: just these model rows (presets) of it."""
    tables = list(TABLES) if table == "all" else [table]
    if any(t not in (*TABLES, VA_TABLE) for t in tables):
        raise ConfigError(f"TABLE {table}", "choose 1, 2, 3, 4, all (the paper's EXPR tables) or va (the "
                          "authors' VA model)")
    check_task(table, labels)
    chosen = ([(va_row(), VA_PRESET)] if table == VA_TABLE else
              [(r, r.preset) for r in model_rows(tuple(t for t in tables if t != "2")) if r.preset])
    unknown = sorted(set(only or []) - {p for _, p in chosen})
    if unknown:
        raise ConfigError(f"--rows {','.join(unknown)}", f"not a row of table {table}",
                          "`exprnet reproduce TABLE --dry-run` lists its rows")
    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}", "needs at least 1")
    standins, overrides, out = dict(standins or {}), dict(overrides or {}), Path(out)
    layers = [overrides, {"data": {"store": store, "labels": labels}}]
    if device:
        layers.append({"train": {"device": device}})
    rows = [row_plan(r, p, standins, layers) for r, p in chosen if not only or p in only]
    for rp in rows:
        for k in range(seeds):
            seed = rp.config.train.seed + k
            rp.runs.append((seed, out / "runs" / f"{rp.config.model.encoder}-{digest(rp.config)}-s{seed}"))
    cv = None
    if "2" in tables:
        t18 = next(r for r in paper_rows() if r.preset == TABLE2_PRESET)
        cv = row_plan(t18, TABLE2_PRESET, standins, layers)
        cv.runs = [(cv.config.train.seed + k, out / "table2" / f"{digest(cv.config)}-s{cv.config.train.seed + k}")
                   for k in range(seeds)]
    plan = Plan(tables, seeds, out, store, labels, rows, cv, overrides, standins)
    plan.features = list(dict.fromkeys(f for rp in [*rows, *([cv] if cv else [])] for f in rp.features))
    plan.missing, plan.n_tracks = missing_features(store, labels, plan.features)
    return plan


def missing_features(store: str, labels: str, features: list[str]) -> tuple[dict[str, str], int]:
    """feature -> "all 9 tracks" / "3 of 9 tracks" for the features some labelled track lacks."""
    tracks = sorted(t for t, a in find_annotations(labels).items() if a.split)
    reader = FeatureStore(store, mode="r")
    out = {}
    for f in features:
        lacking = sum(1 for t in tracks if not reader.is_complete(t, f))
        if lacking:
            out[f] = f"all {len(tracks)} tracks" if lacking == len(tracks) else f"{lacking} of {len(tracks)} tracks"
    return out, len(tracks)
