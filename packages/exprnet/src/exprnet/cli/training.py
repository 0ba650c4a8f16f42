"""Commands that train: ``train``, ``cv``, ``sweep`` (each through :func:`exprnet.training.experiment.execute`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from featurizer.core import console as say
from rich.table import Table

from ..config import make_config
from ..errors import ConfigError
from ..reports.progress import RichReporter, classes_table, epochs_table
from .common import (
    BatchSize,
    ConfigFile,
    Device,
    DModel,
    Encoder,
    Epochs,
    Features,
    Heads,
    Hidden,
    Layers,
    Lr,
    Preset,
    Seed,
    Segment,
    Sets,
    SmoothOpt,
    Steps,
    Store,
    TaskLabels,
    app,
    io,
    user_errors,
)


def _summary(history: list[dict[str, Any]], best_epoch: int, per_class: list[float], run: Path,
             scores: dict[str, Any] | None = None) -> None:
    io.out.print(epochs_table(history, best_epoch))
    if scores:  # multi-task: each task's validation scores at the best epoch
        from ..training.multitask import describe

        if "val_f1" in scores:
            io.out.print(classes_table(per_class, f"EXPR val F1, best epoch {best_epoch}"))
        say.message(io.out, f"best epoch {best_epoch}: {describe(scores)} (mean {scores['val_score']:.4f})")
        m = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").exists() else {}
        post = {k: m[f"{k}_post"] for k in ("val_f1", "val_va", "val_au_f1") if m.get(f"{k}_post") is not None}
        if post:  # fitted on training tracks after training (exprnet.training.task_post)
            say.message(io.out, f"after post-processing fitted {m['task_post']['source']}: {describe(post)}")
    else:
        io.out.print(classes_table(per_class, f"val F1, best epoch {best_epoch}"))
    say.message(io.out, f"run folder: {run}")


TASK_COLUMNS = {"val_f1": "EXPR F1", "val_va": "VA CCC", "val_au_f1": "AU F1", "val_score": "mean"}


@app.command()
def train(
    store: Store = None, labels: TaskLabels = None, features: Features = None, encoder: Encoder = None,
    out_dir: Annotated[str | None, typer.Option("--out", help="Run folder to create.")] = None,
    config: ConfigFile = None, set_: Sets = None, preset: Preset = None,
    epochs: Epochs = None, batch_size: BatchSize = None, lr: Lr = None, seed: Seed = None,
    segment: Segment = None, d_model: DModel = None, layers: Layers = None, heads: Heads = None,
    hidden: Hidden = None, device: Device = None, steps: Steps = None,
    resume: Annotated[str | None, typer.Option(help="Continue a killed run from its last saved epoch.")] = None,
    baseline: Annotated[bool, typer.Option(help="Print the baseline's F1 on the same split at the end "
                                                "(computed once per store, features and split, then cached).")] = True,
) -> None:
    """Train one model; writes a run folder (config, feature provenance, checkpoints, metrics, logs, plots)."""
    from ..training import experiment

    with user_errors():
        reporter = RichReporter(io.err)
        if resume:
            extra = [n for n, v in (("--store", store), ("--labels", labels), ("--features", features),
                                    ("--encoder", encoder), ("--out", out_dir), ("--config", config),
                                    ("--set", set_), ("--preset", preset), ("--batch-size", batch_size),
                                    ("--lr", lr), ("--seed", seed), ("--segment", segment),
                                    ("--d-model", d_model), ("--layers", layers), ("--heads", heads),
                                    ("--hidden", hidden), ("--steps", steps)) if v]
            if extra:
                raise ConfigError(f"--resume {resume}", f"takes the run's own config; drop {', '.join(extra)}",
                                  "only --epochs and --device may change on resume")
            result = experiment.resume(resume, reporter, epochs=epochs, device=device)
        else:
            if not out_dir:
                raise ConfigError("--out", "required: the run folder to create")
            cfg = make_config(preset, config, set_, out_dir, store=store, labels=labels, features=features,
                              encoder=encoder, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                              segment=segment, d_model=d_model, layers=layers, heads=heads,
                              hidden=hidden, device=device, steps=steps)
            result = experiment.train(cfg, out_dir, reporter)
        _summary(result.history, result.best_epoch, result.per_class_f1, result.run.root, result.scores)
        blend = (result.smoothing or {}).get("blend")
        if blend:  # smooth.baseline: auto
            say.message(io.out, f"blended with the logistic regression: network weight {blend['network_weight']:g} "
                        f"(out of fold); val F1 {result.smoothing['val_f1']:.4f}, network alone "
                        f"{result.smoothing['val_f1_network']:.4f}")
        if result.scores:  # a VA/AU run's heads blended with their task baselines (smooth.baseline: auto)
            for task, b in ((result.run.read_metrics().get("task_post") or {}).get("blend") or {}).items():
                best = b["oof_score_by_weight"][f"{b['network_weight']:g}"]
                say.message(io.out, f"{task.upper()} blended with its baseline ({b['partner']}): network weight "
                            f"{b['network_weight']:g}, out of fold {best:.4f} (network alone {b['network_oof']:.4f}, "
                            f"baseline alone {b['baseline_oof']:.4f})")
        if baseline and not result.scores:  # the baseline is EXPR's (multi-task: not yet)
            from ..baseline.cache import cached_baseline, comparison_line

            rcfg, tracks = result.run.read_config(), result.run.read_tracks()
            base = cached_baseline(rcfg, tracks["train"], tracks["val"], reporter)
            say.message(io.out, comparison_line(result.run.read_metrics(), base))


@app.command()
def baseline(
    store: Store = None, labels: TaskLabels = None, features: Features = None,
    out_dir: Annotated[str | None, typer.Option("--out", help="Run folder to create.")] = None,
    classifier: Annotated[str, typer.Option(help="logreg (class-balanced logistic regression) or mlp.")] = "logreg",
    normalize: Annotated[str | None, typer.Option(help="data.normalize: train, track or none.")] = None,
    smooth: SmoothOpt = "box:auto",
    config: ConfigFile = None, set_: Sets = None, preset: Preset = None, seed: Seed = None,
) -> None:
    """Per-frame classifier + calibration and smoothing or decoding (cross-validated on the training tracks)."""
    from ..baseline.multi import run_baselines
    from ..config import build_config, parse_set
    from ..postprocess.choice import describe_record
    from ..postprocess.decoding import DecodeSpec, parse

    with user_errors():
        if not out_dir:
            raise ConfigError("--out", "required: the run folder to create")
        spec = parse(smooth)
        if isinstance(spec, DecodeSpec):
            sm_cfg: dict[str, Any] = {"kind": spec.kind, "weight": "auto" if spec.auto else spec.weight}
        else:
            sm_cfg = {"kind": spec.kind, "width": "auto" if spec.auto else spec.width or 0}
        extra: dict[str, Any] = {"baseline": {"classifier": classifier}, "smooth": sm_cfg}
        if normalize:
            extra["data"] = {"normalize": normalize}
        cfg = make_config(preset, config, (set_ or []), out_dir, store=store, labels=labels, features=features,
                          seed=seed)
        cfg = build_config(cfg.to_dict(), extra, parse_set(set_), source="configuration")
        m = run_baselines(cfg, out_dir, RichReporter(io.err))
        if m.get("tasks", ["expr"]) != ["expr"]:  # VA and/or AU: one baseline per task
            from ..baseline.multi import describe_tasks

            if "per_class_f1" in m:
                io.out.print(classes_table(list(m["per_class_f1"].values()), "EXPR val F1"))
            say.message(io.out, f"val {describe_tasks(m)}; post-processing chosen on training tracks out of "
                                f"fold; run folder: {out_dir}")
            return
        sm = m["smoothing"]
        io.out.print(classes_table(list(m["per_class_f1"].values()), f"val F1, {classifier} + {describe_record(sm)}"))
        say.message(io.out, f"val F1 {m['best_val_f1']:.4f} (unsmoothed {m['val_f1_raw']:.4f}); "
                            f"{describe_record(sm)} chosen on {sm['chosen_on']}; run folder: {out_dir}")


@app.command()
def cv(
    store: Store = None, labels: TaskLabels = None, features: Features = None, encoder: Encoder = None,
    out_dir: Annotated[str | None, typer.Option("--out", help="Folder for the fold runs and the table.")] = None,
    folds: Annotated[int, typer.Option(help="Total folds: folds-1 from Train_Set by source video, "
                                            "plus Validation_Set.")] = 5,
    only: Annotated[str | None, typer.Option(help="Run only these folds, e.g. 1,5.")] = None,
    config: ConfigFile = None, set_: Sets = None, preset: Preset = None,
    epochs: Epochs = None, batch_size: BatchSize = None, lr: Lr = None, seed: Seed = None,
    segment: Segment = None, d_model: DModel = None, layers: Layers = None, heads: Heads = None,
    hidden: Hidden = None, device: Device = None, steps: Steps = None,
) -> None:
    """Cross-validate: one run per fold, then the per-fold table and the mean F1 (with VA/AU: each task's primary score)."""
    from ..training.cv import run_cv

    with user_errors():
        if not out_dir:
            raise ConfigError("--out", "required: the folder for the fold runs")
        try:
            only_ids = [int(s) for s in only.split(",")] if only else None
        except ValueError:
            raise ConfigError(f"--only {only}", "expected fold numbers, e.g. 1,5") from None
        cfg = make_config(preset, config, set_, out_dir, store=store, labels=labels, features=features,
                          encoder=encoder, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                          segment=segment, d_model=d_model, layers=layers, heads=heads, hidden=hidden,
                          device=device, steps=steps)
        res = run_cv(cfg, out_dir, folds, RichReporter(io.err), only_ids)
        t = Table(title=f"{folds}-fold cross-validation ({cfg.model.encoder}, {'+'.join(cfg.data.features)})")
        scores = [("best_val_f1", "val F1")] if res.task_means is None else (
            [(k, TASK_COLUMNS[k]) for k in res.task_means] + [("val_score", "mean")])
        for c in ("fold", "validated on", "train tracks", "val tracks", "val frames", "best epoch", *(c for _, c in scores)):
            t.add_column(c, justify="right")
        for r in res.rows:
            t.add_row(str(r["fold"]), r["val_set"], str(r["train_tracks"]), str(r["val_tracks"]),
                      str(r["val_frames"]), str(r["best_epoch"]), *(f"{r[k]:.4f}" for k, _ in scores))
        if res.task_means is None:
            t.add_row("mean", "", "", "", "", "", f"[bold]{res.mean_f1:.4f}[/] ± {res.std_f1:.4f}")
        else:
            t.add_row("mean", "", "", "", "", "", *(f"{m:.4f} ± {s:.4f}" for m, s in res.task_means.values()),
                      f"[bold]{res.mean_f1:.4f}[/] ± {res.std_f1:.4f}")
        if res.pooled_f1 is not None and res.task_means is None:
            t.add_row("pooled", "every track once", "", "", str(sum(r["val_frames"] for r in res.rows)), "",
                      f"{res.pooled_f1:.4f}")
        io.out.print(t)
        say.message(io.out, f"table: {Path(out_dir) / 'cv.csv'}, {Path(out_dir) / 'cv.json'}")


@app.command()
def sweep(
    grid: Annotated[Path, typer.Option(help="Grid YAML (base config + axes: preset, features, encoder, fold, seed).")],
    out_dir: Annotated[str | None, typer.Option("--out", help="Folder of the runs (default: `out:` in the grid).")] = None,
    executor: Annotated[str, typer.Option(help="local or ray.")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray address (auto, ray://host:10001); default a local cluster.")] = None,
    gpus_per_run: Annotated[float, typer.Option(help="GPUs per run on Ray.")] = 0.0,
    cpus_per_run: Annotated[float, typer.Option(help="CPUs per run on Ray.")] = 1.0,
) -> None:
    """Train every combination of a grid (finished runs are skipped); a table of all runs at the end."""
    from ..training.sweep import run_sweep

    with user_errors():
        rows = run_sweep(grid, out_dir, executor, address, gpus_per_run, cpus_per_run, RichReporter(io.err))
        t = Table(title=f"sweep: {len(rows)} runs")
        keys = [k for k in TASK_COLUMNS if k != "val_score" and any(k in r for r in rows)]
        scores = [("best_val_f1", "val F1")] if not keys else [(k, TASK_COLUMNS[k]) for k in keys] + [("score", "mean")]
        for c in ("run", "tasks", "encoder", "features", "fold", "seed", "best epoch", *(c for _, c in scores), "status"):
            t.add_column(c)
        for r in rows:
            t.add_row(r["run"], r["tasks"], r["encoder"], r["features"], str(r["fold"]), str(r["seed"]),
                      str(r["best_epoch"]), *("" if r.get(k) is None else f"{r[k]:.4f}" for k, _ in scores), r["status"])
        io.out.print(t)
        root = Path(rows[0]["path"]).parent if rows else Path(out_dir or ".")
        say.message(io.out, f"runs listed in {root / 'runs.txt'} (exprnet ensemble --runs-file {root / 'runs.txt'})")
