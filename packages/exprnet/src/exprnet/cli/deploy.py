"""Commands that deliver a trained ensemble: ``bundle``, ``infer``, ``serve``, ``keygen``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from featurizer.core import console as say
from rich.table import Table

from ..errors import ConfigError
from ..reports.progress import RichReporter
from .common import AllowMismatch, app, io, user_errors

BundleOpt = Annotated[str, typer.Option("--bundle", help="Bundle folder (`exprnet bundle`).")]
WeightsOpt = Annotated[list[str] | None, typer.Option(
    "--weights", help="NAME=PATH of a model's weights, as for `featurizer extract` (repeatable); a file whose "
                      "sha256 differs from the bundle's recipe is refused.")]
DetectorOpt = Annotated[str | None, typer.Option(help="Face detector (default: the recipe's, else retinaface).")]
SignOpt = Annotated[str | None, typer.Option(
    "--sign", metavar="KEY", show_default=False,
    help="Sign the bundle's manifest with this Ed25519 private key (PEM or OpenSSH; `exprnet keygen`).")]
TrustedOpt = Annotated[str | None, typer.Option(
    "--trusted-keys", metavar="FILE", show_default=False, envvar="EXPRNET_TRUSTED_KEYS",
    help="Load the bundle only if it is signed by one of these public keys (OpenSSH .pub lines or PEM).")]


def signing_key(path: str | None) -> Any:
    """The private key of ``--sign`` (cryptography's), loaded before any work; None without it."""
    from ..deploy.signing import load_private_key

    return None if path is None else load_private_key(path)
DetectEveryOpt = Annotated[str | None, typer.Option(
    metavar="N", show_default=False,
    help="Run the face detector every N frames (and where a face is lost), following faces by optical flow in "
         "between; 1 detects every frame (default: the recipe's, else 10).")]


def _require_extraction(command: str) -> None:
    """The extraction stack (``exprnet[infer]``: featurizer's extract, models and serve extras)."""
    from featurizer import missing_extras

    for part in ("extract", "serve") if command == "exprnet serve" else ("extract",):
        gone = missing_extras(part)
        if gone:
            raise ConfigError(command, f"needs featurizer's extraction stack (not installed: {', '.join(gone)})",
                              "pip install 'exprnet[infer]'")


@app.command()
def bundle(
    folders: Annotated[list[str] | None, typer.Argument(help="Run folders (members).", show_default=False)] = None,
    method: Annotated[str, typer.Option(help="oof (the default), mean, weighted, greedy or vote, as for "
                                             "`exprnet ensemble --method`.")] = "oof",
    store: Annotated[str, typer.Option(help="Feature store the runs were trained on.")] = "",
    labels: Annotated[list[str] | None, typer.Option(
        help="Annotation folder (the runs' validation tracks are scored); a run of VA or AU: one folder per task, "
             "repeatable (--labels EXPR_Set --labels VA_Set --labels AU_Set).")] = None,
    out_dir: Annotated[str, typer.Option("--out", help="Bundle folder to write.")] = "",
    smooth: Annotated[str, typer.Option(help="Post-processing of the combined probabilities, as for "
                                             "`exprnet ensemble --smooth` (default: auto, none with "
                                             "--method vote).")] = "default",
    select: Annotated[str, typer.Option(help="Each member's checkpoint: best or last.")] = "best",
    class_bias: Annotated[bool, typer.Option(help="Fit per-class biases on validation.")] = False,
    detector: DetectorOpt = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto")] = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing bundle folder.")] = False,
    allow_feature_mismatch: AllowMismatch = False,
    sign: SignOpt = None,
    pretrained: Annotated[str | None, typer.Option(help="Instead of RUNS: a starter bundle from a pretrained "
                                                        "classifier alone (fer: FER2013's mini-Xception), no "
                                                        "training data (docs/infer.md).")] = None,
) -> None:
    """Fit the ensemble of RUNS on their validation split and write it as a self-contained bundle
    (or, with --pretrained fer, a starter bundle that needs no training data)."""
    from ..deploy.make import make_bundle

    with user_errors():
        if pretrained is not None:
            return _starter(pretrained, folders, store, bool(labels), out_dir, detector, overwrite, signing_key(sign))
        for flag, v in (("--store", store), ("--labels", labels), ("--out", out_dir)):
            if not v:
                raise ConfigError(flag, "required")
        if not folders:
            raise ConfigError("RUN...", "name at least one run folder")
        key = signing_key(sign)
        path = make_bundle(folders, method, store, list(labels or []), out_dir, smooth, select, class_bias, device=device,
                           reporter=RichReporter(io.err), detector=detector, overwrite=overwrite,
                           allow_feature_mismatch=allow_feature_mismatch, sign=key)
        bundle_summary(path, key)


def _starter(pretrained: str, folders: list[str] | None, store: str, labels: bool, out_dir: str,
             detector: str | None, overwrite: bool, key: Any = None) -> None:
    from ..deploy.starter import make_starter_bundle

    if folders or store or labels:
        raise ConfigError("--pretrained", "makes a bundle without runs, store or labels",
                          "leave out the run folders, --store and --labels")
    if not out_dir:
        raise ConfigError("--out", "required")
    path = make_starter_bundle(pretrained, out_dir, detector, overwrite, sign=key)
    bundle_summary(path, key)


def bundle_summary(path: Path, key: Any = None) -> None:
    """One line on the bundle written (and its signature, checked with ``key``'s public half)."""
    from ..deploy.bundle import Bundle
    from ..deploy.signing import public_of

    b = Bundle.load(path, trusted_keys=None if key is None else [public_of(key)])
    v = b.manifest.get("validation") or {}
    if b.manifest.get("starter"):
        say.message(io.out, f"starter bundle {b.id}: {b.members[0].encoder} on {', '.join(b.recipe.models)}, "
                            f"never trained on Aff-Wild2 (no validation score) -> {path}")
        say.message(io.out, f"model card: {Path(path) / 'MODEL_CARD.md'}")
        return
    shown = {"val_f1": "F1", "val_va": "VA CCC", "val_au_f1": "AU F1"}
    scores = ", ".join(f"{n} {v[k]:.4f}" for k, n in shown.items() if isinstance(v.get(k), float | int))
    tasks = "" if b.tasks == ["expr"] else f"tasks {', '.join(t.upper() for t in b.tasks)}, "
    say.message(io.out, f"bundle {b.id}: {len(b.members)} member(s), {tasks}{b.combiner.method}, features "
                        f"{', '.join(b.recipe.models)}; validation {scores or 'F1 nan'} -> {path}")
    if b.signer:
        say.message(io.out, f"signed by {b.signer}: {Path(path) / 'bundle.sig'} (load with --trusted-keys FILE "
                            "holding its public key)")
    say.message(io.out, f"model card: {Path(path) / 'MODEL_CARD.md'}")


@app.command()
def infer(
    inputs: Annotated[list[str], typer.Argument(help="Videos, or folders searched for them.", show_default=False)],
    bundle_dir: BundleOpt,
    out_dir: Annotated[str, typer.Option("--out", help="Output folder (per track CSV and PNG, submission.txt; "
                                                       "features.zarr holds the extracted features).")],
    weights: WeightsOpt = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto (extractors and members).")] = "cpu",
    detector: DetectorOpt = None,
    detect_every: DetectEveryOpt = None,
    batch_size: Annotated[int | None, typer.Option(help="Extractors' batch size.")] = None,
    overlay: Annotated[bool, typer.Option(help="Also write <track>.mp4 with the face box and expression.")] = False,
    faces: Annotated[str | None, typer.Option(help="Read the face crops from this cropped_aligned folder "
                                                   "(<video stem>/00001.jpg ...) instead of detecting them.")] = None,
    labels: Annotated[list[str] | None, typer.Option(
        help="Annotation folder: score the tracks that have a file there (written to scores.json); repeatable, one "
             "folder per task of the bundle (EXPR: per-class F1, VA: CCC, AU: F1).")] = None,
    trusted_keys: TrustedOpt = None,
) -> None:
    """Per-frame expressions of new videos: faces detected and tracked, the bundle's features
    extracted, its members, combination and post-processing applied."""
    from featurizer import RichProgress, parse_weights

    from ..deploy.bundle import Bundle
    from ..deploy.infer import Inferencer
    from ..deploy.outputs import write_submission_of, write_track

    with user_errors():
        _require_extraction("exprnet infer")
        from featurizer import check_detect_every

        every = None if detect_every is None else check_detect_every(detect_every)
        b = Bundle.load(bundle_dir, device=device, trusted_keys=trusted_keys)
        inf = Inferencer(b, parse_weights(weights), device, detector, batch_size, faces_dir=faces, detect_every=every)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with io.err.status(f"loading {', '.join(b.recipe.models)} and {len(b.members)} member(s)"):
            inf.load()
        results, preds = [], []
        with RichProgress(io.err) as progress:
            for res in inf.videos(inputs, str(out / "features.zarr"), progress):
                if res.ok:
                    for p in res.tracks:
                        write_track(p, out, overlay)
                    preds += res.tracks
                else:
                    say.line(io.err, "failed", res.error)
                results.append(res)
        if preds:
            write_submission_of(preds, out)
        _infer_table(results)
        if labels and preds:
            _score_tasks(preds, labels, out)
        for p in preds[:5]:
            say.message(io.out, f"{p.track}: {out / (p.track + '.csv')} (per frame), {out / (p.track + '.png')} "
                                f"(timeline)")
        failed = [r for r in results if not r.ok]
        subs = ", ".join(n for n, ok in (("submission.txt", b.tasks.count("expr")), ("submission_va.txt",
                         b.tasks.count("va")), ("submission_au.txt", b.tasks.count("au"))) if ok)
        say.message(io.out, f"{len(results) - len(failed)} of {len(results)} video(s), {len(preds)} track(s) -> "
                            f"{out} (<track>.csv, <track>.png{', <track>.mp4' if overlay else ''}, {subs})")
        if failed:
            raise typer.Exit(1)


def _score_tasks(preds: list, labels: list[str], out: Path) -> None:
    """Each given folder's task scored on the tracks it annotates (:func:`exprnet.deploy.scores.score_tracks`),
    into scores.json."""
    from featurizer.core.files import atomic_write_json

    from ..deploy.scores import score_tracks

    got = score_tracks(preds, labels)
    for w in got.pop("warnings"):
        say.warning(io.err, w)
    if not got.get("tasks"):
        say.warning(io.err, f"{', '.join(labels)}: no annotation file for any of the {len(preds)} track(s); "
                            "nothing scored")
        return
    atomic_write_json(out / "scores.json", got)
    if "f1" in got:
        say.message(io.out, f"F1 on {len(got['tracks'])} labelled track(s), {got['labelled_frames']} frames: "
                            f"{got['f1']:.4f} (mean of the 8 per-class F1, the ABAW metric), "
                            f"{got['f1_annotated_classes']:.4f} over the {got['annotated_classes']} annotated classes "
                            f"-> {out / 'scores.json'}")
    if "va" in got:
        say.message(io.out, f"VA on {got['va_labelled_frames']} annotated frames: {got['va']:.4f} (mean CCC; valence "
                            f"{got['ccc_valence']:.4f}, arousal {got['ccc_arousal']:.4f}) -> {out / 'scores.json'}")
    if "au_f1" in got:
        say.message(io.out, f"AU on {got['au_labelled_frames']} annotated frames: F1 {got['au_f1']:.4f} (mean over "
                            f"the 12 AUs) -> {out / 'scores.json'}")


def _infer_table(results: list) -> None:
    t = Table(title="exprnet infer")
    for c in ("track", "video", "frames", "face", "most frequent", "status", "s"):
        t.add_column(c, justify="right" if c in ("frames", "face", "s") else "left", overflow="fold")
    for r in results:
        name = Path(r.video).name
        if not r.ok:
            t.add_row("-", name, "", "", "", "[red]failed[/]", f"{r.seconds:.1f}")
        for p in r.tracks:
            top, n = Counter(p.expression or ["-"]).most_common(1)[0]
            face = "-" if p.face is None else f"{100 * p.face.mean():.0f}%"
            t.add_row(p.track, name, str(len(p.frames)), face, f"{top} ({100 * n / max(len(p.frames), 1):.0f}%)", "done",
                      f"{r.seconds:.1f}")
    io.out.print(t)


@app.command()
def serve(
    bundle_dir: BundleOpt,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    weights: WeightsOpt = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto")] = "cpu",
    api_key: Annotated[str | None, typer.Option(show_default=False, help="Require this key on every route but "
                                                                        "/healthz (env FEATURIZER_API_KEY).")] = None,
    allowed_models: Annotated[str | None, typer.Option(show_default=False, help=(
        "The only models /v1/features requests may name, besides the bundle's (default: every registered model "
        "whose weights are on this machine or that needs none; env FEATURIZER_ALLOWED_MODELS); the OpenAPI "
        "schema lists them."))] = None,
    max_upload_mb: Annotated[float | None, typer.Option(show_default=False, help="Largest upload in MiB "
                                                                               "(default 200).")] = None,
    max_concurrency: Annotated[int | None, typer.Option(show_default=False, help="Requests computed at once.")] = None,
    max_live_sessions: Annotated[int, typer.Option(min=1, help="Live sessions (/v1/live WebSockets) at once; the "
                                                               "next is refused (close 1013) with the reason.")] = 2,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    trusted_keys: TrustedOpt = None,
) -> None:
    """Serve the bundle over HTTP: the web page at /, POST /v1/expressions beside featurizer's /v1/features, and
    the /v1/live WebSocket (docs/infer.md, docs/http.md)."""
    from featurizer import describe_model, parse_weights

    from ..deploy.livesocket import LiveSettings
    from ..deploy.serve import create_expressions_app

    with user_errors():
        _require_extraction("exprnet serve")
        import uvicorn

        allowed = None if allowed_models is None else [n.strip() for n in allowed_models.split(",") if n.strip()]
        for name in allowed or ():
            describe_model(name)  # registered (a clear line naming it, if not)
        app_ = create_expressions_app(bundle_dir, parse_weights(weights), device, trusted_keys=trusted_keys,
                                      api_key=api_key, allowed_models=allowed, max_upload_mb=max_upload_mb,
                                      max_concurrency=max_concurrency,
                                      live=LiveSettings(max_sessions=max_live_sessions))
        if not api_key and host not in ("127.0.0.1", "localhost", "::1"):
            say.warning(io.err, f"serving on {host} without an API key (--api-key)")
        say.message(io.err, f"page: http://{host}:{port}/  (live: ws://{host}:{port}/v1/live)")
        uvicorn.run(app_, host=host, port=port, log_level=log_level)


@app.command()
def keygen(key: Annotated[str, typer.Argument(help="Private key file to write; the public key goes to KEY.pub.",
                                              show_default=False)]) -> None:
    """Make an Ed25519 key pair to sign bundles with (`exprnet bundle --sign KEY`)."""
    from ..deploy.signing import fingerprint, generate_key, load_private_key

    with user_errors():
        priv, pub = generate_key(key)
        fp = fingerprint(load_private_key(priv).public_key())
        say.message(io.out, f"{fp}: private key {priv} (keep it; `exprnet bundle --sign {priv}`), public key {pub} "
                            f"(share it; `exprnet infer --trusted-keys {pub}`)")
