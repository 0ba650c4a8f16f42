import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from featurizer.core.annotations import read_annotation
from featurizer.core.store import FeatureStore
from featurizer.faces import DetectedFaces
from featurizer.pipeline import compute_source, extract, load_extractors
from featurizer.tracks import SourcePlan, TrackPlan


def test_rows_equal_label_frames_and_sides_share_audio(media, labelled, tmp_path):
    out = str(tmp_path / "s.zarr")
    videos = [media["cfr"], media["twoface"], media["avi"]]
    rep = extract(videos, "egemaps,fbank,hog", out, labels=labelled["annotations"], faces_dir=None)
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
    from featurizer.media import probe_video
    from featurizer.timeline import Timeline

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
    rep = extract([media["cfr"]], "hog", out, labels=labelled["annotations"], faces_dir=labelled["faces"])
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
    with pytest.warns(UserWarning) if False else _nullcontext():
        rep = extract([bad_dir], "egemaps,hog", out)
    status = {r.track: r for r in rep.results}
    assert status["clip"].status == "done" and status["silent"].status == "done"
    assert status["empty"].status == "failed" and "empty.mp4: file is empty" in status["empty"].error
    assert status["corrupt"].status == "failed" and "corrupt.mp4" in status["corrupt"].error
    s = FeatureStore(out)
    silent = s.read_feature("silent", "egemaps")
    assert not silent.present.any() and not silent.values.any()
    assert s.read_feature("silent", "hog").present.mean() > 0.9
    assert not rep.ok


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_cli_exit_status_and_no_audio_warning(media, tmp_path):
    from featurizer.cli import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["extract", str(media["noaudio"]), str(media["empty"]), "--model", "fbank",
                                 "--out", str(tmp_path / "s.zarr")])
    assert r.exit_code == 1
    assert "no audio stream" in r.output and "empty.mp4: file is empty" in r.output
    assert "1 track(s) extracted" in r.output and "1 failed" in r.output


def test_service_path_equals_store_path(media, tmp_path):
    """compute_source (what the HTTP service returns) is what extract stores, before the cast."""
    out = str(tmp_path / "s.zarr")
    extract([media["cfr"]], "egemaps,hog", out, dtype="float32")
    exs = load_extractors(["egemaps", "hog"])
    got = {f.model: f for f in compute_source(SourcePlan(media["cfr"], [TrackPlan("clip")]), exs)}
    s = FeatureStore(out)
    for m in ("egemaps", "hog"):
        np.testing.assert_array_equal(s.read_feature("clip", m).values, got[m].values)


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
