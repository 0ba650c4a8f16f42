"""Commands that use trained runs: ``predict``, ``ensemble``, ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from featurizer.core import console as say
from rich.table import Table

from ..errors import ConfigError
from ..reports.progress import RichReporter, classes_table
from .common import AllowMismatch, SmoothOpt, app, io, user_errors


@app.command()
def predict(
    run: Annotated[str, typer.Option(help="Run folder of `exprnet train`.")],
    store: Annotated[str, typer.Option(help="Feature store holding the tracks.")],
    tracks: Annotated[str, typer.Option(help="Track list file, folder (annotation .txt or crop "
                                             "folders), comma-separated names, or 'all'.")],
    out_dir: Annotated[str, typer.Option("--out", help="Output folder.")],
    checkpoint: Annotated[str, typer.Option(help="best or last")] = "best",
    labels: Annotated[list[str] | None, typer.Option(
        help="Annotation folder: also report the score (a multi-task run: one folder per task, repeatable).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto")] = "auto",
    allow_feature_mismatch: AllowMismatch = False,
    smooth: SmoothOpt = "run",
) -> None:
    """Per-frame probabilities (OUT/probs/<track>.npy) and the ABAW submission (OUT/submission.txt);
    a multi-task run also OUT/va/, OUT/au/, submission_va.txt and submission_au.txt."""
    from ..prediction.predict import predict as run_predict
    from ..prediction.tasks import predict_tasks, run_tasks

    with user_errors():
        if run_tasks(run, checkpoint) != ["expr"]:  # a multi-task run: each task's submission
            s = predict_tasks(run, store, tracks, out_dir, checkpoint, labels, device, RichReporter(io.err),
                              allow_feature_mismatch)
        else:
            lab = (labels[0] if len(labels) == 1 else labels) if labels else None
            s = run_predict(run, store, tracks, out_dir, checkpoint, lab, device, RichReporter(io.err), smooth,
                            allow_feature_mismatch=allow_feature_mismatch)
        if "submissions" in s:  # a multi-task run
            files = ", ".join(str(Path(out_dir) / f) for f in s["submissions"].values())
            say.message(io.out, f"{s['tracks']} tracks, {s['frames']} frames -> {files}")
            shown = {"f1": "EXPR F1", "va": "VA CCC", "ccc_valence": "valence CCC", "ccc_arousal": "arousal CCC",
                     "au_f1": "AU F1"}
            if any(k in s for k in shown):
                say.message(io.out, "  ".join(f"{v} {s[k]:.4f}" for k, v in shown.items() if k in s))
            return
        say.message(io.out, f"{s['tracks']} tracks, {s['frames']} frames -> {Path(out_dir) / 'submission.txt'}")
        if "f1" in s:
            io.out.print(classes_table(list(s["per_class_f1"].values()),
                                       f"F1 on {s['labelled_frames']} labelled frames"))


def run_folders(positional: list[str] | None, runs: list[str] | None, runs_file: Path | None) -> list[str]:
    """Run folders given as arguments, by ``--runs a,b`` (repeatable) and by ``--runs-file``."""
    names = list(positional or [])
    names += [r for item in (runs or []) for r in item.split(",") if r]
    if runs_file:
        if not runs_file.is_file():
            raise ConfigError(f"--runs-file {runs_file}", "no such file")
        names += [ln.strip() for ln in runs_file.read_text().splitlines() if ln.strip()]
    return names


@app.command()
def ensemble(
    folders: Annotated[list[str] | None, typer.Argument(help="Run folders (or use --runs / --runs-file).",
                                                        show_default=False)] = None,
    runs: Annotated[list[str] | None, typer.Option("--runs", help="Run folders (repeatable, or comma-separated).")] = None,
    runs_file: Annotated[Path | None, typer.Option(help="File listing run folders (e.g. a sweep's runs.txt).")] = None,
    method: Annotated[str, typer.Option(help="oof (the default: calibrated probabilities, weighted as measured out of "
                                             "fold on the training videos), mean, weighted or greedy (fitted on "
                                             "validation), or vote (a plain vote of the members' labels).")] = "oof",
    select: Annotated[str, typer.Option(help="Each member's checkpoint: best (validation epoch) or last.")] = "best",
    store: Annotated[str, typer.Option(help="Feature store.")] = "",
    labels: Annotated[list[str] | None, typer.Option(
        help="Annotation folder (the runs' validation tracks are scored); runs with VA or AU heads: one folder "
             "per task, repeatable.")] = None,
    out_dir: Annotated[str, typer.Option("--out", help="Output folder.")] = "",
    tracks: Annotated[str | None, typer.Option(help="Test tracks for a submission (list file, folder, names).")] = None,
    class_bias: Annotated[bool, typer.Option(help="Fit per-class biases on validation.")] = False,
    cv_folds: Annotated[int, typer.Option(help="Groups of validation tracks for the cross-validated estimate.")] = 4,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto")] = "auto",
    allow_feature_mismatch: AllowMismatch = False,
    smooth: Annotated[str, typer.Option(help="Post-processing of the combined (calibrated) probabilities: none, "
                                             "box, gauss or median (:WIDTH), viterbi or hsmm (:WEIGHT), or "
                                             "KIND:auto (fitted on the runs' training tracks) or KIND:optimistic "
                                             "(chosen on the validation labels it is scored on, beside a "
                                             "cross-validated estimate), e.g. viterbi:auto, or auto (viterbi or hsmm, "
                                             "whichever cross-validates better on the training videos); default: "
                                             "auto, none with --method vote.")] = "default",
    bundle_dir: Annotated[str | None, typer.Option("--bundle", help="Also write the ensemble as a bundle folder "
                                                                    "(as `exprnet bundle`), for `exprnet infer`.")] = None,
    sign: Annotated[str | None, typer.Option("--sign", metavar="KEY", show_default=False,
                                             help="Sign the --bundle with this Ed25519 private key "
                                                  "(as `exprnet bundle --sign`).")] = None,
) -> None:
    """Combine runs; print member and ensemble F1 at the chosen and the other checkpoint selection."""
    from featurizer.core.store import FeatureStore

    from ..ensemble.evaluate import run_ensemble
    from ..postprocess.choice import describe_record
    from ..prediction.predict import resolve_tracks
    from ..prediction.tasks import run_tasks

    with user_errors():
        names = run_folders(folders, runs, runs_file)
        for flag, v in (("--store", store), ("--labels", labels), ("--out", out_dir)):
            if not v:
                raise ConfigError(flag, "required")
        if sign and not bundle_dir:
            raise ConfigError("--sign", "signs the bundle, and no --bundle is written", "add --bundle FOLDER")
        from .deploy import signing_key

        key = signing_key(sign)
        test = resolve_tracks(tracks, FeatureStore(store, mode="r")) if tracks else None
        if any(run_tasks(n, select) != ["expr"] for n in names):  # VA / AU heads: every shared task
            return _task_ensemble(names, store, labels or [], out_dir, test, select, device, allow_feature_mismatch,
                                  bundle_dir, key)
        if len(labels or []) != 1:
            raise ConfigError("--labels", "an ensemble of EXPR runs takes one annotation folder",
                              "pass --labels EXPR_Set once")
        m = run_ensemble(names, method, store, (labels or [""])[0], out_dir, test, class_bias, cv_folds, device,
                         RichReporter(io.err), select=select, allow_feature_mismatch=allow_feature_mismatch,
                         smooth_spec=smooth)
        t = Table(title=f"ensemble ({method}) on {m['val_tracks']} validation tracks, {select} checkpoints")
        for c in ("member", "encoder", "features", "weight", "val F1 (argmax)", "val F1 (own post-processing)"):
            t.add_column(c, justify="left" if c in ("member", "encoder", "features") else "right")
        wsum = sum(m["weights"]) or 1.0
        for mem, w in zip(m["members"], m["weights"], strict=True):
            t.add_row(mem["name"], mem["encoder"], "+".join(mem["features"]), f"{w / wsum:.2f}", f"{mem['val_f1']:.4f}",
                      f"{mem['val_f1_decoded']:.4f}")
        t.add_row(f"[bold]ensemble ({method})[/]", "", "", "", "", f"[bold]{m['val_f1']:.4f}[/]")
        io.out.print(t)
        if m["fit_on_validation"]:
            say.message(io.out, f"val F1 {m['val_f1']:.4f} fit and scored on validation; cross-validated estimate "
                                f"({m['cv_folds']} groups of validation tracks): {m['val_f1_cv']:.4f}")
        if m.get("smoothing"):
            say.message(io.out, f"smooth: {describe_record(m['smoothing'])} (chosen on validation: optimistic)")
        if m.get("smooth"):
            say.message(io.out, f"smooth: {describe_record(m['smooth'])} ({m['smooth']['chosen_on']})")
        sel = m["selection"]
        say.message(io.out, f"ensemble with members at their best epoch {sel['best']['val_f1']:.4f}, at their "
                            f"last epoch {sel['last']['val_f1']:.4f}")
        say.message(io.out, f"best member {m['best_member_f1_decoded']:.4f} (after its own post-processing) -> "
                            f"ensemble {m['val_f1']:.4f}; outputs in {out_dir}")
        if bundle_dir:
            from ..deploy.make import bundle_from_ensemble
            from .deploy import bundle_summary

            bundle_summary(bundle_from_ensemble(names, m, Path(out_dir), store, (labels or [""])[0], bundle_dir, select, sign=key),
                           key)


def _task_ensemble(names: list[str], store: str, labels: list[str], out_dir: str, test: list[str] | None,
                   select: str, device: str, allow_feature_mismatch: bool, bundle_dir: str | None,
                   sign_key: Any = None) -> None:
    """Runs with VA or AU heads: each shared task's ensemble, its scores beside the members'."""
    from ..ensemble.tasks import run_task_ensemble

    if bundle_dir and len(names) == 1:
        raise ConfigError("--bundle", "a bundle of one run with VA or AU is made by `exprnet bundle RUN`",
                          "leave out --bundle")
    m = run_task_ensemble(names, store, labels, out_dir, test, select, device, RichReporter(io.err),
                          allow_feature_mismatch)
    t = Table(title=f"ensemble (mean) of {len(names)} runs on their validation tracks, {select} checkpoints")
    for c in ("task", "metric", *[Path(n).name for n in names], "ensemble"):
        t.add_column(c, justify="left" if c in ("task", "metric") else "right")
    for task, v in m["per_task"].items():
        key = next(k for k in v if k.startswith("val_"))
        t.add_row(task.upper(), key, *[f"{x:.4f}" for x in v["member"]], f"[bold]{v[key]:.4f}[/]")
    io.out.print(t)
    say.message(io.out, f"submissions {', '.join(m['submissions'].values())} ({m['submission_tracks']} tracks); "
                        f"outputs in {out_dir}")
    if bundle_dir:
        from ..deploy.make_task_ensemble import bundle_from_task_ensemble
        from .deploy import bundle_summary

        bundle_summary(bundle_from_task_ensemble(names, m, store, labels, bundle_dir, select, sign=sign_key), sign_key)


@app.command()
def report(folder: Annotated[str, typer.Argument(help="A run folder or an `exprnet ensemble` output folder.")]) -> None:
    """Write REPORT.md (per-class F1, feature provenance, confusion and agreement PNGs, Table 3 layout)."""
    from ..reports.report import write_report

    with user_errors():
        say.message(io.out, f"wrote {write_report(folder)}")
