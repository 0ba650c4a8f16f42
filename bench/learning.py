"""Learning benchmark: built-in baselines, every encoder, `recommended` and a vote ensemble.

On a synthetic feature corpus in the Aff-Wild2 layout (:mod:`exprnet.data.synthetic`: Aff-Wild2's
class shares, expressions from a fraction of a second to many seconds, a weak per-frame signal,
per-subject offsets, slow drift, missing faces, unannotated stretches), at two sizes:

    small  about 40 tracks,  60k frames, 32 visual + 16 audio dims
    large  about 300 tracks, 1.5M frames, same reduced width

Every row is the validation mean F1 (8 classes), mean +- sd over ``--seeds`` seeds, and the
training throughput (frames/s; for baselines: fitted frames / fit time). Nothing is selected on
the validation tracks: baselines choose their smoothing width by cross-validation on the
training tracks, networks are scored with their *last* checkpoint (not the best validation
epoch) and the width chosen on their training tracks. The vote ensemble combines 3 seeds of
`recommended`; with ``--vote-seeds N`` it is scored over every 3 of N seeds. ``--oof-folds K``
adds a table scored out of fold over every track (bench/learning_oof.py): the baselines,
`recommended`'s seeds and their vote, each track predicted by the fold that held it out. After
the tables it prints whether each target is met, per table (bench/learning_targets.py).

    uv run python bench/learning.py                     # both sizes, 3 seeds
    uv run python bench/learning.py --size small --seeds 1 --quick
    uv run python bench/learning.py --size small --vote-seeds 7   # the vote over 35 triples
    uv run python bench/learning.py --size small --only oof --oof-folds 4 --vote-seeds 7
    uv run python bench/learning.py --size small --only networks --vote-seeds 7 --set train.segment_jitter=true
    uv run python bench/learning.py --size small --only decoding --post-folds 3 --two-stage   # issue 25

The decoding table (bench/learning_decoding.py, printed first) runs every post-processing on the
baselines and `recommended` with an oracle beside each row (true segments given), ECE before and
after calibration and decoding/prediction time; its targets follow the others. `recommended`'s
rows are the preset as shipped (blended with the logistic regression out of fold, issue 36), its
network alone beside them, and a table of the weight each seed chose (bench/learning_blend.py).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from exprnet.baseline.fit import evaluate_baseline
from exprnet.config import BaselineConfig, build_config
from exprnet.training.experiment import prepare
from exprnet.training.memory import tune_allocator
from learning_blend import blend_lines, blended_models
from learning_decoding import (
    DEFAULT,
    baseline_models,
    decoding_summary,
    decoding_table,
    ensembles,
    network_models,
    with_baseline,
)
from learning_oof import oof_rows
from learning_runs import (
    BUDGET,
    QUICK,
    TRAINED,
    base_config,
    budget_layer,
    corpus_for,
    deep_run,
    recommended,
    vote_rows,
)
from learning_targets import targets_table
from learning_twostage import twostage_models

ENCODERS = ("mlp", "lstm", "bilstm", "tcn", "transformer")
def baseline_rows(c: Any, seeds: int, threads: int) -> list[dict[str, Any]]:
    torch.set_num_threads(threads)
    rows: list[dict[str, Any]] = []
    prep = None
    for norm in ("train", "track"):
        for clf in ("logreg", "mlp"):
            raw, smoothed, fps = [], [], []
            for seed in range(seeds):
                cfg = build_config(base_config(c, threads), {
                    "data": {"normalize": norm}, "train": {"seed": seed},
                    "baseline": BaselineConfig(classifier=clf).model_dump(), "smooth": {"kind": "box"}})
                prep = prep or prepare(cfg)
                t0 = time.perf_counter()
                m = evaluate_baseline(cfg, prep.bank, prep.split.train, prep.split.val).metrics
                secs = time.perf_counter() - t0
                raw.append(m["val_f1_raw"])
                smoothed.append(m["best_val_f1"])
                fitted = min(m["train_labelled_frames"], BaselineConfig().max_frames)
                fps.append(fitted * (1 + 2 / 3 * BaselineConfig().folds) / secs)  # final fit + CV fits
                print(f"[{c.spec.n_tracks} tracks] {clf}, normalize {norm}, seed {seed}: F1 {raw[-1]:.4f} -> "
                      f"{smoothed[-1]:.4f} smoothed, {secs:.0f} s", flush=True)
            width = m["smoothing"]["width"]
            rows.append({"method": f"{clf}, per frame", "normalize": norm, "f1": raw, "fps": fps, "kind": "frame"})
            rows.append({"method": f"{clf} + box +-{width} (CV on train)", "normalize": norm, "f1": smoothed,
                         "fps": fps, "kind": "baseline"})
    return rows


def deep_rows(c: Any, size: str, seeds: int, threads: int, work: Path, budget: dict[str, int],
              vote_seeds: int = 0, sets: list[str] | tuple[str, ...] = ()) -> list[dict[str, Any]]:
    rows = []
    configs = [(f"encoder {e}", [{"model": {"encoder": e}}]) for e in ENCODERS]
    rec_name, rec_layers = recommended(list(sets))
    configs.append((rec_name, rec_layers))
    members: list[dict[str, np.ndarray]] = []
    member_f1: list[float] = []
    for name, extra in configs:
        f1s, raws, fpss = [], [], []
        rec = name == rec_name
        for seed in range(max(seeds, vote_seeds) if rec else seeds):
            t0 = time.perf_counter()
            layers = [base_config(c, threads), *extra, {"train": {"seed": seed}}]
            f1, raw, sm, fps = deep_run(c, [*layers, budget_layer(budget, layers)],
                                        work / size / f"{name.replace(' ', '-')}-s{seed}", rec)
            f1s.append(f1)
            raws.append(raw)
            fpss.append(fps)
            if rec:
                members.append(sm)
                member_f1.append(f1)
            print(f"[{size}] {name} seed {seed}: F1 {f1:.4f} (unsmoothed {raw:.4f}), {fps:.0f} frames/s, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        norm = build_config(*extra).data.normalize
        kind = "recommended" if rec else "encoder"
        rows.append({"method": f"{name} (unsmoothed)", "normalize": norm, "f1": raws[:seeds], "fps": fpss[:seeds],
                     "kind": f"{kind} unsmoothed"})
        rows.append({"method": f"{name} + its smoothing", "normalize": norm, "f1": f1s[:seeds], "fps": fpss[:seeds],
                     "kind": kind})
    if len(members) >= 3:
        rows += vote_rows(c, members, member_f1, size, rec_name)
    return rows


def table(size: str, rows: list[dict[str, Any]]) -> str:
    out = [f"| {size}: method | normalize | val F1 (mean ± sd) | train frames/s |", "|---|---|---|---|"]
    for r in rows:
        f = np.array(r["f1"])
        sd = f"{f.std():.3f}" if len(f) > 1 else "-"
        fps = np.nanmean(r["fps"]) if not np.isnan(r["fps"]).all() else float("nan")
        out.append(f"| {r['method']} | {r['normalize']} | {f.mean():.3f} ± {sd} | "
                   f"{'' if np.isnan(fps) else f'{fps:,.0f}'} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=("small", "large", "both"), default="both")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and BLAS threads per run (1: steadiest on a shared machine)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "exprnet-bench-learning",
                    help="corpora and runs (kept; the corpora are reused)")
    ap.add_argument("--quick", action="store_true", help="a few steps per network: checks the plumbing")
    ap.add_argument("--only", choices=("baselines", "networks", "oof", "decoding"), default=None,
                    help="oof: only the out-of-fold table (needs --oof-folds); decoding: only the decoding table")
    ap.add_argument("--two-stage", action="store_true",
                    help="decoding table: add `recommended` fed the baseline decoder's marginals (bench/learning_twostage.py)")
    ap.add_argument("--no-decoding", action="store_true", help="leave out the decoding table (issue 25)")
    ap.add_argument("--post-folds", type=int, default=0,
                    help="decoding table: fit `recommended`'s calibration and decoders on out-of-fold training "
                         "probabilities from this many sub-runs per seed (0: its in-sample predictions)")
    ap.add_argument("--budget-frames", type=int, default=0,
                    help="large: train each network for this many frames instead of 400,000 (use a new --work: "
                         "run folders are reused by name)")
    ap.add_argument("--vote-seeds", type=int, default=0,
                    help="train this many `recommended` seeds and score the vote over every 3 of them")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override of `recommended` (repeatable), e.g. train.segment_jitter=true; its runs are "
                         "kept in folders named after it")
    ap.add_argument("--oof-folds", type=int, default=0,
                    help="also score the smoothed baselines, `recommended` (--vote-seeds or --seeds seeds) and "
                         "its vote out of fold over all tracks, with this many folds (bench/learning_oof.py)")
    a = ap.parse_args()
    tune_allocator()
    sizes = ("small", "large") if a.size == "both" else (a.size,)
    tables, measured, decoded = [], [], []
    t_all = time.perf_counter()
    for size in sizes:
        t0 = time.perf_counter()
        c = corpus_for(a.work / size / "corpus", size)
        budget = (QUICK if a.quick else BUDGET)[size]
        if a.budget_frames and "frames" in budget:
            budget = {"frames": a.budget_frames}
        if a.only in (None, "decoding") and not a.no_decoding:
            models = baseline_models(c, a.seeds, a.threads)
            nets = network_models(c, size, max(a.seeds, a.vote_seeds), a.threads, a.work / "runs", budget, a.set,
                                  a.post_folds)
            shipped = blended_models(c, size, max(a.seeds, a.vote_seeds), a.threads, a.work / "runs", budget, a.set)
            if shipped:  # issue 36: the preset blends; its network alone beside it
                models["recommended: network alone"] = nets
            models["recommended"] = shipped or nets
            if a.two_stage:
                models["two-stage recommended"] = twostage_models(c, size, max(a.seeds, a.vote_seeds), a.threads,
                                                                  a.work / "runs", budget, a.post_folds)
            models["recommended + logreg baseline"] = with_baseline(nets, models["logreg baseline"][0])
            ens = ensembles(nets) if len(nets) >= 3 else []
            summary = decoding_summary(models, ens)
            tables.append(decoding_table(f"{size}, decoding", summary))
            if shipped:
                tables[-1] += "\n\n" + blend_lines(size, models)
            decoded.append((f"{size}, decoding", summary))
            print(tables[-1], flush=True)
        if a.only not in ("oof", "decoding"):
            rows = [] if a.only == "networks" else baseline_rows(c, a.seeds, a.threads)
            if a.only != "baselines":
                rows += deep_rows(c, size, a.seeds, a.threads, a.work / "runs", budget, a.vote_seeds, a.set)
            tables.append(table(size, rows))
            measured.append((f"{size}, validation split", rows))
            print(tables[-1], flush=True)
        if a.oof_folds:
            rows = oof_rows(c, size, max(a.seeds, a.vote_seeds), a.oof_folds, a.threads, a.work / "runs", budget,
                            a.set)
            tables.append(table(f"{size}, out of fold over all {len(c.tracks)} tracks ({a.oof_folds} folds)", rows))
            measured.append((f"{size}, out of fold", rows))
            print(tables[-1], flush=True)
        print(f"[{size}] {time.perf_counter() - t0:.0f} s; peak RSS so far {peak_rss_gib():.2f} GiB", flush=True)
    print("\n\n".join(tables))
    print("\ntargets (bench/learning_targets.py):\n" + targets_table(measured, peak_rss_gib(), ", ".join(sizes),
                                                                       TRAINED["runs"], decoded, DEFAULT))
    print(f"total {time.perf_counter() - t_all:.0f} s, peak RSS {peak_rss_gib():.2f} GiB")


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


if __name__ == "__main__":
    main()
