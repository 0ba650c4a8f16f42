"""``exprnet``: train, cv, predict, presets. User errors are reported once, without a traceback."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from featurizer.core import console as say
from rich.console import Console
from rich.table import Table

from .config import RunConfig, build_config, parse_set, read_yaml
from .errors import ConfigError, ExprnetWarning, InputError
from .memory import tune_allocator
from .presets import list_presets, load_preset
from .progress import RichReporter, classes_table, epochs_table

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=say.markup_mode(),
                  help="Train fused temporal encoders (LSTM, Transformer) with R-Drop on stored "
                       "per-frame features; cross-validate; predict ABAW submissions.")
err = Console(stderr=True)
out = Console()


@app.callback()
def _consoles() -> None:
    """Consoles made per invocation, so they take the width (``COLUMNS``) of this call."""
    global err, out
    err, out = Console(stderr=True), Console()


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print exprnet errors and warnings once, in plain words; exit 2 on an error."""

    def show(message: Any, category: type, *args: Any, **kw: Any) -> None:
        label = "warning" if issubclass(category, ExprnetWarning) else category.__name__
        say.line(err, label, message)

    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            yield
        except InputError as e:  # exprnet's own, and the core's store and annotation errors
            say.error(err, e)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            say.line(err, "interrupted", "`exprnet train --resume RUN` continues from the last saved epoch")
            raise typer.Exit(130) from None


SmoothOpt = Annotated[str, typer.Option(
    "--smooth", help="Smoothing of the probabilities within each track: none, box, gauss or median, with "
                     ":WIDTH (frames each side) or :auto (chosen on the training tracks), e.g. box:12; "
                     "'run': as the run recorded.")]

# -- options shared by train and cv -----------------------------------------------------------
Store = Annotated[str | None, typer.Option(help="Feature store (Zarr; path or fsspec URL).")]
Labels = Annotated[str | None, typer.Option(help="Annotation folder (Train_Set/, Validation_Set/ below it).")]
Features = Annotated[str | None, typer.Option(help="Comma-separated feature names, concatenated in this order.")]
Encoder = Annotated[str | None, typer.Option(help="lstm, bilstm, transformer, tcn or mlp.")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="YAML config (data:, model:, train:).")]
Sets = Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE override, e.g. model.dropout=0.1 (repeatable).")]
Preset = Annotated[str | None, typer.Option(help="A shipped preset (`exprnet presets`).")]
Epochs = Annotated[int | None, typer.Option(help="train.epochs")]
Steps = Annotated[int | None, typer.Option(help="train.steps: optimizer steps instead of epochs")]
BatchSize = Annotated[int | None, typer.Option(help="train.batch_size (segments per batch)")]
Lr = Annotated[float | None, typer.Option(help="train.lr")]
Seed = Annotated[int | None, typer.Option(help="train.seed")]
Segment = Annotated[int | None, typer.Option(help="model.segment (frames)")]
DModel = Annotated[int | None, typer.Option(help="model.d_model (fusion / Transformer width)")]
Layers = Annotated[int | None, typer.Option(help="model.layers")]
Heads = Annotated[int | None, typer.Option(help="model.heads (Transformer)")]
Hidden = Annotated[int | None, typer.Option(help="model.hidden (LSTM hidden size / Transformer feed-forward)")]
Device = Annotated[str | None, typer.Option(help="cpu, cuda or auto")]

_FLAG_KEYS = {
    "store": ("data", "store"), "labels": ("data", "labels"), "features": ("data", "features"),
    "encoder": ("model", "encoder"), "epochs": ("train", "epochs"), "batch_size": ("train", "batch_size"),
    "lr": ("train", "lr"), "seed": ("train", "seed"), "segment": ("model", "segment"),
    "d_model": ("model", "d_model"), "layers": ("model", "layers"), "heads": ("model", "heads"),
    "hidden": ("model", "hidden"), "device": ("train", "device"), "steps": ("train", "steps"),
}


def make_config(preset: str | None, config: Path | None, sets: list[str] | None, out_dir: str | None,
                **flags: Any) -> RunConfig:
    """defaults < preset < --config file < flags < --set."""
    layers: list[dict[str, Any]] = []
    if preset:
        layers.append(load_preset(preset))
    if config:
        layers.append(read_yaml(config))
    flag_layer: dict[str, Any] = {}
    for k, v in flags.items():
        if v is not None:
            sec, key = _FLAG_KEYS[k]
            flag_layer.setdefault(sec, {})[key] = v
    layers += [flag_layer, parse_set(sets)]
    if out_dir and not any("name" in layer for layer in layers):
        layers.insert(0, {"name": Path(out_dir).name})
    return build_config(*layers, source="configuration")


def _summary(history: list[dict[str, Any]], best_epoch: int, per_class: list[float], run: Path) -> None:
    out.print(epochs_table(history, best_epoch))
    out.print(classes_table(per_class, f"val F1, best epoch {best_epoch}"))
    say.message(out, f"run folder: {run}")


@app.command()
def train(
    store: Store = None, labels: Labels = None, features: Features = None, encoder: Encoder = None,
    out_dir: Annotated[str | None, typer.Option("--out", help="Run folder to create.")] = None,
    config: ConfigFile = None, set_: Sets = None, preset: Preset = None,
    epochs: Epochs = None, batch_size: BatchSize = None, lr: Lr = None, seed: Seed = None,
    segment: Segment = None, d_model: DModel = None, layers: Layers = None, heads: Heads = None,
    hidden: Hidden = None, device: Device = None, steps: Steps = None,
    resume: Annotated[str | None, typer.Option(help="Continue a killed run from its last saved epoch.")] = None,
    baseline: Annotated[bool, typer.Option(help="Print the baseline's F1 on the same split at the end "
                                                "(computed once per store, features and split, then cached).")] = True,
) -> None:
    """Train one model; writes a run folder (config, checkpoints, metrics, logs, plots)."""
    from . import experiment

    with user_errors():
        reporter = RichReporter(err)
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
        _summary(result.history, result.best_epoch, result.per_class_f1, result.run.root)
        if baseline:
            from .baseline_cache import cached_baseline, comparison_line

            rcfg, tracks = result.run.read_config(), result.run.read_tracks()
            base = cached_baseline(rcfg, tracks["train"], tracks["val"], reporter)
            say.message(out, comparison_line(result.run.read_metrics(), base))


@app.command()
def baseline(
    store: Store = None, labels: Labels = None, features: Features = None,
    out_dir: Annotated[str | None, typer.Option("--out", help="Run folder to create.")] = None,
    classifier: Annotated[str, typer.Option(help="logreg (class-balanced logistic regression) or mlp.")] = "logreg",
    normalize: Annotated[str | None, typer.Option(help="data.normalize: train, track or none.")] = None,
    smooth: SmoothOpt = "box:auto",
    config: ConfigFile = None, set_: Sets = None, preset: Preset = None, seed: Seed = None,
) -> None:
    """Per-frame classifier + smoothing (width cross-validated on the training tracks); a run folder."""
    from .baseline import run_baseline
    from .smoothing import parse_spec

    with user_errors():
        if not out_dir:
            raise ConfigError("--out", "required: the run folder to create")
        spec = parse_spec(smooth)
        extra: dict[str, Any] = {"baseline": {"classifier": classifier},
                                 "smooth": {"kind": spec.kind, "width": "auto" if spec.auto else spec.width or 0}}
        if normalize:
            extra["data"] = {"normalize": normalize}
        cfg = make_config(preset, config, (set_ or []), out_dir, store=store, labels=labels, features=features,
                          seed=seed)
        cfg = build_config(cfg.to_dict(), extra, parse_set(set_), source="configuration")
        m = run_baseline(cfg, out_dir, RichReporter(err))
        sm = m["smoothing"]
        out.print(classes_table(list(m["per_class_f1"].values()),
                                f"val F1, {classifier} + {sm['kind']} +-{sm['width']}"))
        say.message(out, f"val F1 {m['best_val_f1']:.4f} (unsmoothed {m['val_f1_raw']:.4f}); width "
                         f"{sm['width']} chosen on {sm['chosen_on']}; run folder: {out_dir}")


@app.command()
def cv(
    store: Store = None, labels: Labels = None, features: Features = None, encoder: Encoder = None,
    out_dir: Annotated[str | None, typer.Option("--out", help="Folder for the fold runs and the table.")] = None,
    folds: Annotated[int, typer.Option(help="Total folds: folds-1 from Train_Set by source video, "
                                            "plus Validation_Set.")] = 5,
    only: Annotated[str | None, typer.Option(help="Run only these folds, e.g. 1,5.")] = None,
    config: ConfigFile = None, set_: Sets = None, preset: Preset = None,
    epochs: Epochs = None, batch_size: BatchSize = None, lr: Lr = None, seed: Seed = None,
    segment: Segment = None, d_model: DModel = None, layers: Layers = None, heads: Heads = None,
    hidden: Hidden = None, device: Device = None, steps: Steps = None,
) -> None:
    """Cross-validate: one run per fold, then the per-fold table and the mean F1."""
    from .cv import run_cv

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
        res = run_cv(cfg, out_dir, folds, RichReporter(err), only_ids)
        t = Table(title=f"{folds}-fold cross-validation ({cfg.model.encoder}, {'+'.join(cfg.data.features)})")
        for c in ("fold", "validated on", "train tracks", "val tracks", "val frames", "best epoch", "val F1"):
            t.add_column(c, justify="right")
        for r in res.rows:
            t.add_row(str(r["fold"]), r["val_set"], str(r["train_tracks"]), str(r["val_tracks"]),
                      str(r["val_frames"]), str(r["best_epoch"]), f"{r['best_val_f1']:.4f}")
        t.add_row("mean", "", "", "", "", "", f"[bold]{res.mean_f1:.4f}[/] ± {res.std_f1:.4f}")
        out.print(t)
        say.message(out, f"table: {Path(out_dir) / 'cv.csv'}, {Path(out_dir) / 'cv.json'}")


@app.command()
def predict(
    run: Annotated[str, typer.Option(help="Run folder of `exprnet train`.")],
    store: Annotated[str, typer.Option(help="Feature store holding the tracks.")],
    tracks: Annotated[str, typer.Option(help="Track list file, folder (annotation .txt or crop "
                                             "folders), comma-separated names, or 'all'.")],
    out_dir: Annotated[str, typer.Option("--out", help="Output folder.")],
    checkpoint: Annotated[str, typer.Option(help="best or last")] = "best",
    labels: Annotated[str | None, typer.Option(help="Annotation folder: also report F1.")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto")] = "auto",
    smooth: SmoothOpt = "run",
) -> None:
    """Per-frame probabilities (OUT/probs/<track>.npy) and the ABAW submission (OUT/submission.txt)."""
    from .predict import predict as run_predict

    with user_errors():
        s = run_predict(run, store, tracks, out_dir, checkpoint, labels, device, RichReporter(err), smooth)
        say.message(out, f"{s['tracks']} tracks, {s['frames']} frames -> {Path(out_dir) / 'submission.txt'}")
        if "f1" in s:
            out.print(classes_table(list(s["per_class_f1"].values()), f"F1 on {s['labelled_frames']} labelled frames"))


@app.command()
def presets() -> None:
    """List the shipped presets (the paper's table rows and the demo)."""
    with user_errors():
        t = Table(title="presets (exprnet train --preset NAME)")
        for c in ("name", "encoder", "features", "description"):
            t.add_column(c)
        for p in list_presets():
            t.add_row(p["name"], p["encoder"], ",".join(p["features"]), p["description"])
        out.print(t)


@app.command()
def ensemble(
    runs: Annotated[list[str] | None, typer.Option("--runs", help="Run folders (repeatable, or comma-separated).")] = None,
    runs_file: Annotated[Path | None, typer.Option(help="File listing run folders (e.g. a sweep's runs.txt).")] = None,
    method: Annotated[str, typer.Option(help="vote, mean, weighted or greedy.")] = "vote",
    store: Annotated[str, typer.Option(help="Feature store.")] = "",
    labels: Annotated[str, typer.Option(help="Annotation folder (the runs' validation tracks are scored).")] = "",
    out_dir: Annotated[str, typer.Option("--out", help="Output folder.")] = "",
    tracks: Annotated[str | None, typer.Option(help="Test tracks for a submission (list file, folder, names).")] = None,
    smoothing: Annotated[str | None, typer.Option(help="Temporal smoothing of probabilities: box or median "
                                                        "(width chosen on validation).")] = None,
    class_bias: Annotated[bool, typer.Option(help="Fit per-class biases on validation.")] = False,
    cv_folds: Annotated[int, typer.Option(help="Groups of validation tracks for the cross-validated estimate.")] = 4,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto")] = "auto",
    smooth: Annotated[str, typer.Option(help="Smoothing of the combined probabilities: none, box, gauss or "
                                             "median, with :WIDTH or :auto (chosen on the runs' training "
                                             "tracks), e.g. box:auto.")] = "none",
) -> None:
    """Combine runs; print member and ensemble F1 (and the cross-validated estimate when fit on validation)."""
    from featurizer.core.store import FeatureStore

    from .ensemble_run import run_ensemble
    from .predict import resolve_tracks

    with user_errors():
        names = [r for item in (runs or []) for r in item.split(",") if r]
        if runs_file:
            names += [ln.strip() for ln in Path(runs_file).read_text().splitlines() if ln.strip()]
        for flag, v in (("--store", store), ("--labels", labels), ("--out", out_dir)):
            if not v:
                raise ConfigError(flag, "required")
        test = resolve_tracks(tracks, FeatureStore(store, mode="r")) if tracks else None
        m = run_ensemble(names, method, store, labels, out_dir, test, smoothing, class_bias, cv_folds, device,
                         RichReporter(err), smooth)
        t = Table(title=f"ensemble ({method}) on {m['val_tracks']} validation tracks")
        for c in ("member", "encoder", "features", "weight", "val F1"):
            t.add_column(c, justify="right" if c in ("weight", "val F1") else "left")
        wsum = sum(m["weights"]) or 1.0
        for mem, w in zip(m["members"], m["weights"], strict=True):
            t.add_row(mem["name"], mem["encoder"], "+".join(mem["features"]), f"{w / wsum:.2f}", f"{mem['val_f1']:.4f}")
        t.add_row(f"[bold]ensemble ({method})[/]", "", "", "", f"[bold]{m['val_f1']:.4f}[/]")
        out.print(t)
        if m["fit_on_validation"]:
            say.message(out, f"val F1 {m['val_f1']:.4f} fit and scored on validation; cross-validated estimate "
                      f"({m['cv_folds']} groups of validation tracks): {m['val_f1_cv']:.4f}")
        if m.get("smoothing"):
            say.message(out, f"smoothing: {m['smoothing']['kind']} +-{m['smoothing']['k']} frames")
        if m.get("smooth"):
            say.message(out, f"smooth: {m['smooth']['kind']} +-{m['smooth']['width']} frames "
                             f"({m['smooth']['chosen_on']})")
        say.message(out, f"best member {m['best_member_f1']:.4f} -> ensemble {m['val_f1']:.4f}; outputs in {out_dir}")


@app.command()
def report(folder: Annotated[str, typer.Argument(help="A run folder or an `exprnet ensemble` output folder.")]) -> None:
    """Write REPORT.md (per-class F1, confusion and agreement PNGs, the paper's Table 3 layout)."""
    from .report import write_report

    with user_errors():
        say.message(out, f"wrote {write_report(folder)}")


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
    from .sweep import run_sweep

    with user_errors():
        rows = run_sweep(grid, out_dir, executor, address, gpus_per_run, cpus_per_run, RichReporter(err))
        t = Table(title=f"sweep: {len(rows)} runs")
        for c in ("run", "encoder", "features", "fold", "seed", "best epoch", "val F1", "status"):
            t.add_column(c)
        for r in rows:
            t.add_row(r["run"], r["encoder"], r["features"], str(r["fold"]), str(r["seed"]), str(r["best_epoch"]),
                      f"{r['best_val_f1']:.4f}", r["status"])
        out.print(t)
        root = Path(rows[0]["path"]).parent if rows else Path(out_dir or ".")
        say.message(out, f"runs listed in {root / 'runs.txt'} (exprnet ensemble --runs-file {root / 'runs.txt'})")


def main() -> None:
    tune_allocator()  # process-level: give training buffers back to the OS (see exprnet.memory)
    app()
