import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from featurizer import extract
from featurizer.core.annotations import read_annotation
from featurizer.core.store import FeatureStore
from featurizer.demo import encode_audio, voice
from featurizer.errors import UnknownModelError
from featurizer.extraction.executors import LocalExecutor
from featurizer.extraction.job import ExtractJob
from featurizer.extraction.pipeline import run_job
from featurizer.faces import DetectedFaces
from featurizer.media.inputs import SourcePlan, TrackPlan
from featurizer.models import registry
from featurizer.models.registry import PRECISION, Extractor, Option, Timing
from featurizer.progress import Collected, NoProgress


def test_rows_equal_label_frames_and_sides_share_audio(media, labelled, tmp_path):
    out = str(tmp_path / "s.zarr")
    videos = [media["cfr"], media["twoface"], media["avi"]]
    rep = extract(videos, "egemaps,fbank,hog", out, labels=labelled["annotations"], faces=None)
    # ghost_left has no video: reported, the rest done
    assert [k for k in rep.problems if "ghost_left" in k] and not rep.ok
    assert {r.track for r in rep.results if r.status == "done"} == {"clip", "duo_left", "duo_right", "video45_3"}
    s = FeatureStore(out, mode="r")
    for track, f in [("clip", "Train_Set/clip.txt"), ("duo_right", "Validation_Set/duo_right.txt"),
                     ("video45_3", "Validation_Set/video45_3.txt")]:
        n = len(read_annotation(labelled["annotations"] / f))
        for m in ("egemaps", "fbank", "hog"):
            assert s.read_feature(track, m).values.shape[0] == n
    # duo_right has 3 label rows past the 50-frame video: nearest frame, not present
    fr = s.frame_present("duo_right")
    assert fr.sum() == 50 and not fr[50:].any()
    eg = s.read_feature("duo_right", "egemaps")
    assert not eg.present[50:].any()
    np.testing.assert_array_equal(eg.values[50:], np.repeat(eg.values[49:50], 3, 0))
    # both faces of duo share the video's audio
    np.testing.assert_array_equal(s.read_feature("duo_left", "fbank").values,
                                  s.read_feature("duo_right", "fbank").values[:50])
    # ... but not its face
    assert not np.array_equal(s.read_feature("duo_left", "hog").values, s.read_feature("duo_right", "hog").values[:50])
    assert s.track_attrs("duo_left")["source_video"] == "duo.mp4"


def test_left_and_right_pick_their_own_face(media):
    plan = SourcePlan(media["twoface"], [TrackPlan("duo_left"), TrackPlan("duo_right")])
    from featurizer.media.decode import probe_video
    from featurizer.media.timeline import Timeline

    info = probe_video(media["twoface"])
    src = DetectedFaces()
    xs = {}
    for t in plan.tracks:
        tl = Timeline.from_video(t.track, info.timestamps)
        crops = list(src.crops(tl, media["twoface"]))
        assert len(crops) >= 45  # the cascade finds the drawn face in nearly every frame
        xs[t.track] = crops
    # left crops come from the left half of the frame: the two sequences differ
    assert np.abs(xs["duo_left"][0][1].astype(int) - xs["duo_right"][0][1].astype(int)).mean() > 1


def test_missing_crops_take_nearest_and_are_not_present(media, labelled, tmp_path):
    out = str(tmp_path / "s.zarr")
    rep = extract([media["cfr"]], "hog", out, labels=labelled["annotations"], faces=labelled["faces"])
    assert [r.status for r in rep.results] == ["done"]
    f = FeatureStore(out).read_feature("clip", "hog")
    missing = sorted(labelled["missing"])
    assert (~f.present).nonzero()[0].tolist() == [m - 1 for m in missing]
    np.testing.assert_array_equal(f.values[2], f.values[1])  # 00003 missing -> nearest is 00002
    np.testing.assert_array_equal(f.values[4], f.values[5]) if 6 not in labelled["missing"] else None
    np.testing.assert_array_equal(f.values[48], f.values[47])  # last frame missing -> previous


def test_bad_inputs_never_stop_the_run(media, tmp_path):
    out = str(tmp_path / "s.zarr")
    bad_dir = tmp_path / "in"
    bad_dir.mkdir()
    for k in ("cfr", "empty", "corrupt", "noaudio"):
        shutil.copy(media[k], bad_dir / media[k].name)
    rep = extract([bad_dir], "egemaps,hog", out)
    status = {r.track: r for r in rep.results}
    assert status["clip"].status == "done" and status["silent"].status == "done"
    # refused when the inputs were checked, before the models loaded; named with the reason
    problems = {Path(k).name: v for k, v in rep.problems.items()}
    assert set(problems) == {"empty.mp4", "corrupt.mp4"} and not {"empty", "corrupt"} & set(status)
    assert problems["empty.mp4"] == "file is empty" and "not a decodable" in problems["corrupt.mp4"]
    s = FeatureStore(out)
    silent = s.read_feature("silent", "egemaps")
    assert not silent.present.any() and not silent.values.any()
    assert s.read_feature("silent", "hog").present.mean() > 0.9
    assert not rep.ok


def test_cli_exit_status_and_no_audio_warning(media, tmp_path):
    from featurizer.cli import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["extract", str(media["noaudio"]), str(media["empty"]), "--model", "fbank",
                                 "--out", str(tmp_path / "s.zarr")])
    assert r.exit_code == 1
    assert "no audio stream" in r.output and "empty.mp4: file is empty" in r.output
    assert "1 track(s) extracted" in r.output and "0 failed, 1 input problem(s)" in r.output


# -- throwaway extractors: typed options, precision, and when models load ----------------------
HOP = Timing("hop", hop=0.01, window=0.02, offset=0.01)
GAIN, PROBE = "pipe_test_gain", "pipe_test_probe"


@dataclass
class _Gain(Extractor):
    """Four statistics of each 20-ms window every 10 ms, times ``gain``."""

    gain: float = 1.0

    def extract_audio(self, waves, sample_rate):
        out = []
        for w in waves:
            win = np.lib.stride_tricks.sliding_window_view(w, 320)[::160]
            out.append((self.gain * np.stack([win.mean(1), win.std(1), np.abs(win).max(1), win[:, 0]], 1))
                       .astype(np.float32))
        return out


@pytest.fixture(scope="module")
def events():
    """Registers GAIN (typed ``gain`` and the registry's PRECISION) and PROBE; both log loads."""
    log: list = []
    registry.specs()

    def gain(gain: float = 1.0, precision: str | None = None):
        log.append(("load", GAIN, {"gain": gain, "precision": precision}))
        return _Gain(name=GAIN, modality="audio", dim=4, timing=HOP, recipe_version="1", gain=gain)

    def probe():
        log.append(("load", PROBE, {}))
        warnings.warn(f"{PROBE}: the checkpoint is a stand-in", UserWarning, stacklevel=2)
        return _Gain(name=PROBE, modality="audio", dim=4, timing=HOP, recipe_version="1")

    registry.register(GAIN, modality="audio", dim=4, timing=HOP,
                      options=(Option("gain", float, "scales every value"), PRECISION))(gain)
    registry.register(PROBE, modality="audio", dim=4, timing=HOP)(probe)
    yield log
    for name in (GAIN, PROBE):
        registry._REGISTRY.pop(name, None)


class _Log(NoProgress):
    def __init__(self, log):
        self.log = log

    def problem(self, subject, reason):
        self.log.append(("problem", Path(subject).name, reason))

    def warn(self, message):
        self.log.append(("warn", message))


def test_inputs_are_checked_before_any_model_loads(events, media, tmp_path):
    events.clear()
    text = tmp_path / "notes.mp4"
    text.write_text("meeting notes, not a video\n" * 20)
    bad = [tmp_path / "missing.mp4", media["empty"], media["corrupt"], text]
    job = ExtractJob.of(bad, PROBE, tmp_path / "none.zarr")
    rep = run_job(job, LocalExecutor(), _Log(events))
    # every bad input named with its reason, and no extractor was ever created
    assert [e[:2] for e in events] == [("problem", p.name) for p in bad]
    assert [e[2] for e in events][:2] == ["file not found", "file is empty"]
    assert not rep.results and set(rep.problems) == {str(p) for p in bad}
    assert not (tmp_path / "none.zarr").exists()  # nothing to write: no store either
    # bad and good together: the bad ones are reported at once, then the models load, the rest runs
    events.clear()
    rep = run_job(ExtractJob.of([bad[0], media["cfr"], bad[1]], PROBE, tmp_path / "s.zarr"),
                  LocalExecutor(), _Log(events))
    assert [e[0] for e in events] == ["problem", "problem", "load", "warn"]
    assert events[-1] == ("warn", f"{PROBE}: the checkpoint is a stand-in")  # a load warning: one line
    assert [(r.track, r.status) for r in rep.results] == [("clip", "done")]


def test_typed_options_reach_the_extractor(events, media, tmp_path):
    events.clear()
    one = extract([media["cfr"]], GAIN, tmp_path / "one.zarr", dtype="float32")
    two = extract([media["cfr"]], GAIN, tmp_path / "two.zarr", dtype="float32",
                  options={GAIN: {"gain": "2.5"}}, precision="bf16")
    assert one.ok and two.ok
    assert events == [("load", GAIN, {"gain": 1.0, "precision": None}),
                      ("load", GAIN, {"gain": 2.5, "precision": "bf16"})]  # typed: 2.5 is a float
    a = FeatureStore(str(tmp_path / "one.zarr")).read_feature("clip", GAIN).values
    b = FeatureStore(str(tmp_path / "two.zarr")).read_feature("clip", GAIN).values
    np.testing.assert_allclose(b, 2.5 * a, rtol=1e-5)  # float32 means of rows


@pytest.mark.parametrize("kw,words", [
    ({"options": {GAIN: {"gian": "2"}}}, f"{GAIN} option gian: {GAIN} takes no option 'gian' (it takes: gain, precision)"),
    ({"options": {GAIN: {"gain": "loud"}}}, f"{GAIN} option gain='loud': is not a valid float"),
    ({"options": {"fbank": {"x": "1"}}}, f"--option fbank.x=...: fbank is not among the selected models ({GAIN})"),
    ({"options": {"nosuch": {"x": "1"}}}, "--option nosuch.x=...: nosuch: unknown extractor"),
    ({"precision": "fp8"}, "--precision fp8: unknown precision (use one of auto, fp32, bf16, fp16)"),
    ({"batch_size": 4}, f"--batch-size 4: none of {GAIN} takes it"),
])
def test_bad_options_are_refused_before_any_model_loads(events, media, tmp_path, kw, words):
    events.clear()
    with pytest.raises(UnknownModelError) as e:
        extract([media["cfr"]], GAIN, tmp_path / "s.zarr", **kw)
    assert str(e.value).startswith(words) and "\n" not in str(e.value)
    assert not events
    with pytest.raises(UnknownModelError, match="--precision bf16: none of egemaps takes it"):
        extract([media["cfr"]], "egemaps", tmp_path / "s.zarr", precision="bf16")
    from featurizer.models.runtime import Runtime

    Runtime(precision="auto").check(["egemaps"])  # the default, named, is never an error


def test_audio_only_input_gets_rows_at_its_fps(events, tmp_path):
    wav = encode_audio(tmp_path / "speech.wav", voice(np.zeros(58, int), np.random.default_rng(0))[:36800])
    out = tmp_path / "s.zarr"
    progress = Collected()
    rep = extract([wav], f"fbank,{GAIN},hog", out, dtype="float32", progress=progress)
    assert [(r.track, r.status) for r in rep.results] == [("speech", "done")], rep.failed
    s = FeatureStore(str(out))
    n = 58  # ceil(2.3 s x 25)
    np.testing.assert_allclose(s.timestamps("speech"), np.arange(n) / 25)
    assert s.frame_present("speech").all() and s.track_attrs("speech")["n_video_frames"] == 0
    assert s.read_feature("speech", "fbank").present.sum() >= n - 1
    hog = s.read_feature("speech", "hog")  # no video: visual rows are zeros, not present
    assert not hog.present.any() and not hog.values.any()
    assert any("no video stream; visual features (hog)" in w for w in progress.warnings)
    # label counts held in memory, at another rate: rows past the audio are filled, not present
    extract([wav], GAIN, tmp_path / "t.zarr", tracks={"speech": 90}, audio_fps=30, dtype="float32")
    g = FeatureStore(str(tmp_path / "t.zarr")).read_feature("speech", GAIN)
    assert len(g.values) == 90 and g.present[:68].all() and not g.present[70:].any()
    np.testing.assert_array_equal(g.values[70:], np.repeat(g.values[69:70], 20, 0))


def _run_cli(args, capture=False):
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "featurizer.cli", "extract", *args], stdout=out,
                            stderr=subprocess.STDOUT)


def test_killed_run_resumes_to_the_clean_result(tmp_path):
    from featurizer.demo import make_demo

    demo = tmp_path / "demo"
    make_demo(demo, n_videos=6, seconds=4, seed=3)
    args = [str(demo / "videos"), "--labels", str(demo / "annotations"), "--faces", str(demo / "cropped_aligned"),
            "--model", "compare,fbank,hog"]
    clean, killed = str(tmp_path / "clean.zarr"), str(tmp_path / "killed.zarr")
    assert _run_cli([*args, "--out", clean]).wait(120) == 0
    p = _run_cli([*args, "--out", killed])
    deadline = time.time() + 120
    while time.time() < deadline:  # kill as soon as the first array is complete
        if any('"complete": true' in open(os.path.join(d, "zarr.json")).read()
               for d, _, files in os.walk(killed) if "zarr.json" in files and "features" in d):
            break
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    s = FeatureStore(killed, mode="r")
    done_before = sum(len(s.models(t)) for t in s.tracks())
    assert 0 < done_before < 3 * 7  # killed mid-run
    r = _run_cli([*args, "--out", killed], capture=True)
    out = r.communicate(timeout=120)[0].decode()
    assert r.returncode == 0, out
    a, b = FeatureStore(clean, mode="r"), FeatureStore(killed, mode="r")
    assert a.tracks() == b.tracks()
    for t in a.tracks():
        assert a.models(t) == b.models(t) == ["compare", "fbank", "hog"]
        for m in a.models(t):
            fa, fb = a.read_feature(t, m), b.read_feature(t, m)
            np.testing.assert_array_equal(fa.values, fb.values)
            np.testing.assert_array_equal(fa.present, fb.present)
