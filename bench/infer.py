"""Cost of `exprnet infer` against the same work as separate commands and the extraction alone.

A bundle of two members (an LSTM run trained ``--epochs`` epochs, default 2, with the default
architecture, and `exprnet baseline`) over ``--models`` (default egemaps,fbank,hog,hubert; hubert
is the real-size hubert-base architecture with random weights, ``--hubert random``, or a tiny
HuBERT saved as a Hugging Face folder, ``--hubert tiny``) is made from a small training corpus
(4 clips of ``--train-frames`` frames). Its members' quality does not matter here, their cost does.
Then, on ``--videos`` new videos (default 3) of ``--seconds`` each (default 10 s at 25 fps,
320x240): a real face photograph moving like a talking head (scikit-image's astronaut or
matplotlib's Grace Hopper, tests/featurizer/face_clips.py) with real speech (eSpeak NG,
tests/speech.py), so the retinaface detector finds, tracks and aligns the faces as on real
video, all measured side by side in one run:

1. `exprnet infer VIDEOS --bundle B` (one process: models loaded once, faces, features, members,
   combination, post-processing, CSV + PNG per track, submission.txt);
2. the same work as separate processes, the two-step path of tests/e2e/test_deploy.py:
   `featurizer extract VIDEOS --model M --out S` (S: a copy of the training store, made
   beforehand and not timed) then `exprnet ensemble LSTM BASELINE --store S --tracks ...`
   (which also re-fits the combination on the validation tracks, as it always does);
3. the extraction alone: `featurizer extract VIDEOS --model M --out fresh.zarr` (one process).

Process-level timings include Python start-up and imports (torch, transformers ...) and loading
the models: the table gives `exprnet --help` / `featurizer --help` beside them. The commands run
with .pyc files written and reused (under the work folder, ``PYTHONPYCACHEPREFIX``), warmed by one
untimed run of each, as an installed package runs; ``--no-pyc`` keeps the environment's setting
(with ``PYTHONDONTWRITEBYTECODE=1`` every process compiles every module it imports from source:
about 30 s of each command on this machine, most of the difference between processes). In-process, without
start-up and with every model loaded beforehand (and one warm-up video each): the
:class:`~exprnet.deploy.infer.Inferencer` (``.videos``) against ``featurizer.extract`` alone (models loaded once in a ``ModelCache``) on
the same videos, with the Inferencer's stage seconds (faces = decode + detect + track; each model;
members + post-processing) and the outputs written after (CSV + PNG per track).

Targets (issue 24): infer / extraction alone <= 1.1x; infer / separate commands < 1. Each
measurement runs ``--rounds`` times (default 1), interleaved, the best kept; nothing is asserted.

    uv run python bench/infer.py [--videos 3] [--seconds 10] [--models egemaps,fbank,hog,hubert]
                                 [--hubert random|tiny] [--epochs 2] [--rounds 1] [--no-pyc]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from featurizer.core.annotations import write_annotation  # noqa: E402
from featurizer.demo import encode_video  # noqa: E402
from featurizer.progress import NoProgress  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tests.e2e.conftest import label_runs  # noqa: E402  (the e2e corpus's label runs)
from tests.featurizer.face_clips import talking_head  # noqa: E402
from tests.speech import speak  # noqa: E402

FPS = 25
SR = 16_000
SMOOTH = "box:3"
TRAIN = {  # training corpus: track -> (face, split, line)
    "train1": ("astronaut", "Train_Set", "Good morning, how are you today?"),
    "train2": ("hopper", "Train_Set", "I am quite surprised to hear that."),
    "train3": ("astronaut", "Train_Set", "That makes me rather happy, thanks."),
    "val1": ("hopper", "Validation_Set", "Well, I do not like this at all."),
}
LINES = ("Nobody told me about this new plan.", "We both sit here and talk for a while.",
         "I really did not expect to see you again so soon.", "The weather has been strange all week.",
         "Please tell me what happened after the meeting.")


def voice(n_frames: int, k: int) -> np.ndarray:
    """Speech lines (starting at line ``k``) back to back with short pauses, ``n_frames`` long."""
    n = int(n_frames / FPS * SR)
    parts, total, i = [], 0, k
    while total < n:
        v = speak(LINES[i % len(LINES)])
        parts += [v, np.zeros(SR // 4, np.float32)]
        total += len(v) + SR // 4
        i += 1
    return np.concatenate(parts)[:n].astype(np.float32)


def cli(name: str) -> list[str]:
    """The installed console script (what a user runs), else the module."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", f"import sys; from {name}.cli import main; sys.argv[0] = {name!r}; sys.exit(main())"]


def timed(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    with log.open("w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False, env=env)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} ... failed ({r.returncode}):\n{log.read_text()[-4000:]}")
    return dt


def ok(app, *args: object) -> None:
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, [str(a) for a in args])
    if r.exit_code != 0:
        sys.exit(f"{' '.join(map(str, args[:2]))} failed:\n{r.output}")


class Seconds(NoProgress):
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def feature(self, track: str, model: str, seconds: float) -> None:
        self.seconds[f"model {model}"] += seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--models", default="egemaps,fbank,hog,hubert")
    ap.add_argument("--hubert", choices=("random", "tiny"), default="random",
                    help="hubert weights: real-size architecture, random weights; or a tiny saved model")
    ap.add_argument("--train-frames", type=int, default=80)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (printed)")
    ap.add_argument("--no-pyc", action="store_true",
                    help="run the commands with bytecode caching as this environment has it (with "
                         "PYTHONDONTWRITEBYTECODE=1 every process compiles every module it imports); by default "
                         "they write and reuse .pyc files under the work folder (PYTHONPYCACHEPREFIX), "
                         "warmed by one untimed run of each command, as an installed package runs")
    args = ap.parse_args()

    import exprnet  # noqa: F401 - the stack, imported before anything is timed
    from exprnet.cli import app as exprnet_app
    from featurizer.cli import app as featurizer_app

    con = Console(width=None if sys.stdout.isatty() else 130)
    work = Path(tempfile.mkdtemp(prefix="bench-infer-"))
    try:
        run(args, work, con, exprnet_app, featurizer_app)
    finally:
        if args.keep:
            con.print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def make_bundle(args: argparse.Namespace, work: Path, exprnet_app, featurizer_app) -> tuple[dict[str, str], Path]:
    """The ``--models`` weights and the bundle (lstm + baseline) made from a small training corpus."""
    models = args.models
    weights: dict[str, str] = {}
    if "hubert" in models.split(",") or any(m.startswith("hubert:") for m in models.split(",")):
        if args.hubert == "tiny":
            from tests.featurizer.conftest_deep import save_speech_folder

            weights["hubert"] = str(save_speech_folder(work / "hubert-tiny", "hubert"))
        else:
            weights["hubert"] = "random"
    wflags = [a for k, v in weights.items() for a in ("--weights", f"{k}={v}")]
    rng = np.random.default_rng(0)
    n_tr = args.train_frames
    for k, (track, (face, split, line)) in enumerate(TRAIN.items()):
        v = speak(line)[: int(n_tr / FPS * SR)]
        encode_video(work / "train" / f"{track}.mp4", talking_head(n_tr, face, amplitude=0.7).frames, FPS,
                     np.pad(v, (0, max(0, int(n_tr / FPS * SR) - len(v)))))
        lab = label_runs(n_tr, rng)
        lab[k % n_tr] = k % 8
        write_annotation(work / "labels" / split / f"{track}.txt", lab)
    store, labels, runs = work / "train.zarr", work / "labels", work / "runs"
    ok(featurizer_app, "extract", work / "train", "--labels", labels, "--model", models, *wflags, "--out", store)
    ok(exprnet_app, "train", "--store", store, "--labels", labels, "--features", models, "--encoder", "lstm",
       "--out", runs / "lstm", "--epochs", args.epochs, "--device", "cpu", "--no-baseline")
    ok(exprnet_app, "baseline", "--store", store, "--labels", labels, "--features", models, "--smooth", "box:4",
       "--out", runs / "baseline")
    bundle = work / "bundle"
    ok(exprnet_app, "bundle", runs / "lstm", runs / "baseline", "--method", "vote", "--smooth", SMOOTH,
       "--store", store, "--labels", labels, "--out", bundle, "--device", "cpu")
    return weights, bundle


def make_videos(args: argparse.Namespace, work: Path) -> tuple[Path, list[str], Path]:
    """``--videos`` new talking-head videos with speech, and a one-video folder for warm-ups."""
    n = int(round(args.seconds * FPS))
    vids = work / "videos"
    names = [f"new{i + 1}" for i in range(args.videos)]
    for i, name in enumerate(names):
        encode_video(vids / f"{name}.mp4", talking_head(n, ("hopper", "astronaut")[i % 2], amplitude=0.5).frames,
                     FPS, voice(n, i))
    warm = work / "warm"  # one short video for the in-process warm-up
    warm.mkdir()
    shutil.copy(work / "train" / "train1.mp4", warm / "warm.mp4")
    return vids, names, warm


def run(args: argparse.Namespace, work: Path, con: Console, exprnet_app, featurizer_app) -> None:
    models = args.models
    t0 = time.perf_counter()
    weights, bundle = make_bundle(args, work, exprnet_app, featurizer_app)
    wflags = [a for k, v in weights.items() for a in ("--weights", f"{k}={v}")]
    store, labels, runs = work / "train.zarr", work / "labels", work / "runs"
    t_setup = time.perf_counter() - t0
    vids, names, warm = make_videos(args, work)

    # -- in process: Inferencer vs featurizer.extract, models loaded beforehand ------------------------------
    from exprnet.deploy.bundle import Bundle
    from exprnet.deploy.infer import Inferencer
    from exprnet.deploy.outputs import write_submission_of, write_track
    from featurizer import ModelCache
    from featurizer import extract as run_extract

    t0 = time.perf_counter()
    b = Bundle.load(bundle, device="cpu")
    inf = Inferencer(b, weights, "cpu")
    inf.load()
    t_inf_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    cache = ModelCache.for_models(models.split(","), weights=weights)
    for m in models.split(","):
        cache.get(m)
    t_bare_load = time.perf_counter() - t0
    assert all(r.ok for r in inf.videos([warm], str(work / "warm-inf.zarr")))
    assert run_extract([warm], models, work / "warm-bare.zarr", cache=cache).ok

    def in_process(r: int) -> dict[str, object]:
        inf.seconds.clear()
        t0 = time.perf_counter()
        res = list(inf.videos([vids], str(work / f"inf-{r}.zarr")))
        t_inf = time.perf_counter() - t0
        bad = [x.error for x in res if not x.ok]
        if bad:
            sys.exit(f"Inferencer failed: {bad}")
        stages = dict(inf.seconds)
        out = work / f"inf-out-{r}"
        out.mkdir()
        t0 = time.perf_counter()
        preds = [p for x in res for p in x.tracks]
        for p in preds:
            write_track(p, out)
        write_submission_of(preds, out)
        t_out = time.perf_counter() - t0
        watch = Seconds()
        t0 = time.perf_counter()
        rep = run_extract([vids], models, work / f"bare-{r}.zarr", cache=cache, progress=watch)
        t_bare = time.perf_counter() - t0
        if not rep.ok:
            sys.exit(f"extract failed: {rep.problems} {[x.error for x in rep.failed]}")
        return {"inf": t_inf, "stages": stages, "out": t_out, "bare": t_bare, "bare_stages": dict(watch.seconds),
                "frames": sum(len(p.frames) for p in preds), "tracks": len(preds)}

    # -- processes -----------------------------------------------------------------------------
    exprnet_cmd, featurizer_cmd = cli("exprnet"), cli("featurizer")
    logs = work / "logs"
    logs.mkdir()
    env = dict(os.environ)
    if not args.no_pyc:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")

    def infer_cmd(src: Path, out: Path) -> list[str]:
        return [*exprnet_cmd, "infer", str(src), "--bundle", str(bundle), "--out", str(out), *wflags]

    def extract_cmd(src: Path, out: Path) -> list[str]:
        return [*featurizer_cmd, "extract", str(src), "--model", models, *wflags, "--out", str(out)]

    def ensemble_cmd(st: Path, out: Path, tracks: list[str]) -> list[str]:
        return [*exprnet_cmd, "ensemble", str(runs / "lstm"), str(runs / "baseline"), "--method", "vote", "--smooth",
                SMOOTH, "--store", str(st), "--labels", str(labels), "--out", str(out), "--tracks", ",".join(tracks),
                "--device", "cpu"]

    t0 = time.perf_counter()
    if not args.no_pyc:  # one untimed run of each command writes the .pyc files
        timed(infer_cmd(warm, work / "warm-cli-infer"), logs / "warm-infer.log", env)
        wst = work / "warm-two.zarr"
        shutil.copytree(store, wst)
        timed(extract_cmd(warm, wst), logs / "warm-extract.log", env)
        timed(ensemble_cmd(wst, work / "warm-ens", ["warm"]), logs / "warm-ensemble.log", env)
    t_pyc = time.perf_counter() - t0

    def processes(r: int) -> dict[str, float]:
        t = {"exprnet --help": timed([*exprnet_cmd, "--help"], logs / "eh.log", env),
             "featurizer --help": timed([*featurizer_cmd, "--help"], logs / "fh.log", env)}
        t["infer"] = timed(infer_cmd(vids, work / f"cli-infer-{r}"), logs / f"infer-{r}.log", env)
        two = work / f"two-{r}.zarr"
        shutil.copytree(store, two)  # the training store the ensemble re-fits on (not timed)
        t["two: extract"] = timed(extract_cmd(vids, two), logs / f"two-extract-{r}.log", env)
        t["two: ensemble"] = timed(ensemble_cmd(two, work / f"ens-{r}", names), logs / f"ensemble-{r}.log", env)
        t["extract alone"] = timed(extract_cmd(vids, work / f"alone-{r}.zarr"), logs / f"alone-{r}.log", env)
        return t

    ip: list[dict[str, object]] = []
    pr: list[dict[str, float]] = []
    for r in range(args.rounds):
        ip.append(in_process(r))
        pr.append(processes(r))
    best_ip = min(ip, key=lambda d: d["inf"])
    bare_best = min(float(d["bare"]) for d in ip)
    out_best = min(float(d["out"]) for d in ip)
    p = {k: min(d[k] for d in pr) for k in pr[0]}
    two_total = min(d["two: extract"] + d["two: ensemble"] for d in pr)
    frames, tracks = best_ip["frames"], best_ip["tracks"]

    # -- report --------------------------------------------------------------------------------
    import torch

    con.print(f"[bold]exprnet infer[/]: {args.videos} new videos x {args.seconds:g} s at {FPS} fps (320x240, one "
              f"real face each, speech), {frames} frames, {tracks} tracks; bundle: lstm ({args.epochs} epochs) + "
              f"baseline, vote, smooth {SMOOTH}; models {models}"
              + (f" (hubert weights: {args.hubert})" if weights else "") + f"; detector {inf.detector}; "
              f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, OMP_NUM_THREADS="
              f"{os.environ.get('OMP_NUM_THREADS', 'unset')}; best of {args.rounds} round(s); setup "
              f"(corpus, store, runs, bundle) {t_setup:.0f} s, not timed; "
              + ("commands run as this environment has it (PYTHONDONTWRITEBYTECODE="
                 f"{os.environ.get('PYTHONDONTWRITEBYTECODE', 'unset')})" if args.no_pyc else
                 f"commands with .pyc files cached (warmed by one untimed run of each, {t_pyc:.0f} s)"))

    t = Table(title="processes (each includes Python start-up, imports and model loading)")
    for c in ("command", "seconds", "frames/s", "vs extract alone", "vs separate commands"):
        t.add_column(c, justify="left" if c == "command" else "right")

    def row(label: str, s: float, style: str = "") -> None:
        t.add_row(f"[{style}]{label}[/]" if style else label, f"{s:.1f}", f"{frames / s:.0f}",
                  f"{s / p['extract alone']:.2f}x", f"{s / two_total:.2f}x")

    row("exprnet infer (1 process)", p["infer"], "bold")
    row("separate: featurizer extract + exprnet ensemble", two_total, "bold")
    row("  featurizer extract (into a copy of the training store)", p["two: extract"])
    row("  exprnet ensemble --tracks (re-fits on validation)", p["two: ensemble"])
    row("featurizer extract alone (1 process)", p["extract alone"], "bold")
    t.add_row("start-up: exprnet --help", f"{p['exprnet --help']:.1f}", "", "", "")
    t.add_row("start-up: featurizer --help", f"{p['featurizer --help']:.1f}", "", "", "")
    con.print(t)

    st = best_ip["stages"]
    inf_s = float(best_ip["inf"])
    t = Table(title=f"in process, no start-up, models loaded beforehand (Inferencer load {t_inf_load:.1f} s, "
                    f"extract's models {t_bare_load:.1f} s, not included)")
    for c in ("stage", "Inferencer.videos s", "share", "extract alone s"):
        t.add_column(c, justify="left" if c == "stage" else "right")
    bare_st = next(d for d in ip if d["bare"] == bare_best)["bare_stages"]
    feats = {f.name: f.modality for f in b.recipe.features}
    first_visual = next((m for m in bare_st if feats.get(m.removeprefix("model ")) == "visual"), None)
    keys = ["faces"] + [k for k in st if k.startswith("model ")] + ["members + post-processing"]
    for k in keys:
        v = st.get(k, 0.0)
        label = k + (" (decode, detect, track)" if k == "faces" else "")
        if k == first_visual:
            label += " (extract: + the face scan, made lazily in its first visual model)"
        t.add_row(label, f"{v:.2f}", f"{100 * v / inf_s:.0f}%", f"{bare_st[k]:.2f}" if k in bare_st else "")
    vis = [k for k in keys if feats.get(k.removeprefix("model ")) == "visual"]
    if vis:
        v = st.get("faces", 0.0) + sum(st.get(k, 0.0) for k in vis)
        t.add_row(f"[italic]faces + {' + '.join(k.removeprefix('model ') for k in vis)}[/]", f"{v:.2f}",
                  f"{100 * v / inf_s:.0f}%", f"{sum(bare_st.get(k, 0.0) for k in vis):.2f}")
    rest = inf_s - sum(st.get(k, 0.0) for k in keys)
    bare_rest = bare_best - sum(bare_st.values())
    t.add_row("rest (probe, audio decode, alignment, store writes, per-video jobs)", f"{rest:.2f}",
              f"{100 * rest / inf_s:.0f}%", f"{bare_rest:.2f}")
    t.add_row("[bold]total[/]", f"[bold]{inf_s:.2f}[/]", "100%", f"[bold]{bare_best:.2f}[/]")
    t.add_row("outputs after (CSV + PNG per track, submission.txt)", f"{out_best:.2f}",
              f"{100 * out_best / inf_s:.0f}%", "")
    t.add_row("[dim]process minus in process (start-up, imports, loading, first calls)[/]",
              f"{p['infer'] - inf_s - out_best:.1f}", "", f"{p['extract alone'] - bare_best:.1f}")
    con.print(t)

    r_cli = p["infer"] / p["extract alone"]
    r_ip = inf_s / bare_best
    r_ip_out = (inf_s + out_best) / bare_best
    r_two = p["infer"] / two_total
    share = st.get("members + post-processing", 0.0) / inf_s

    def verdict(good: bool) -> str:
        return "[green]met[/]" if good else "[red]not met[/]"

    con.print("[bold]targets[/]")
    con.print(f"  infer / extraction alone <= 1.1x: processes {r_cli:.2f}x ({p['infer']:.1f} / "
              f"{p['extract alone']:.1f} s) {verdict(r_cli <= 1.1)}; in process {r_ip:.2f}x ({inf_s:.2f} / "
              f"{bare_best:.2f} s) {verdict(r_ip <= 1.1)}, {r_ip_out:.2f}x with the outputs written")
    con.print(f"  infer / separate commands < 1: {r_two:.2f}x ({p['infer']:.1f} / {two_total:.1f} s) "
              f"{verdict(r_two < 1)}")
    con.print(f"  members + post-processing: {100 * share:.1f}% of the in-process infer time "
              f"({st.get('members + post-processing', 0.0):.2f} s)")
    con.print("  (process timings include Python start-up and model loading, about "
              f"{p['exprnet --help']:.1f} s / {p['featurizer --help']:.1f} s for `--help` alone; the "
              "in-process figures exclude both)")


if __name__ == "__main__":
    main()
