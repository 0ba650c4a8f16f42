"""`featurizer faces` end to end on clips the tests encode: the Aff-Wild2 layout, the CSV, the
right crops per person, a bad video reported on one line, re-runs, atomic tracks."""

import csv
import json
import os
import shutil

import cv2
import numpy as np
import pytest
from featurizer.cli import app
from featurizer.faces import align_face
from featurizer.faces.write import CSV_COLUMNS, write_faces
from typer.testing import CliRunner


def _mad(a, b):
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def _read(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def written(face_media, tmp_path_factory):
    d = tmp_path_factory.mktemp("faces-cli")
    inputs = d / "in"
    inputs.mkdir()
    for k in ("talk", "pair"):
        shutil.copy(face_media[k], inputs / face_media[k].name)
    (inputs / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(3000))
    out = d / "cropped_aligned"
    r = CliRunner().invoke(app, ["faces", str(inputs), "--out", str(out)])
    return {"result": r, "out": out, "inputs": inputs}


def test_layout_csv_and_summary(written, face_media):
    r, out = written["result"], written["out"]
    assert r.exit_code == 1, r.output  # the broken video failed, the others were written
    failed = [ln for ln in r.output.splitlines() if ln.startswith("failed: ")]
    assert len(failed) == 1 and "broken.mp4" in failed[0] and "not a decodable video or audio file" in failed[0]
    assert "3 track(s) written, 0 already done, 1 failed; detection rate" in r.output
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "pair_left", "pair_left.csv", "pair_right", "pair_right.csv", "talk", "talk.csv"]
    hidden = face_media["hidden"]
    names = sorted(p.name for p in (out / "talk").iterdir())
    assert names == [f"{i + 1:05d}.jpg" for i in range(40) if i not in hidden]
    assert _read(out / "talk" / "00001.jpg").shape == (112, 112, 3)
    with open(out / "talk.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == CSV_COLUMNS == ["frame", "x1", "y1", "x2", "y2", "score", "lx1", "ly1", "lx2", "ly2",
                                      "lx3", "ly3", "lx4", "ly4", "lx5", "ly5"]
    assert [int(r[0]) for r in rows[1:]] == [int(n[:5]) for n in names]
    vals = np.array([[float(v) for v in r] for r in rows[1:]])
    truth = face_media["talk_truth"][vals[:, 0].astype(int) - 1]
    assert np.abs(vals[:, 6:].reshape(-1, 5, 2) - truth).max() < 4  # video pixels, in landmark order
    assert (vals[:, 5] > 0.8).all() and (vals[:, 3] > vals[:, 1]).all()


def test_each_person_gets_their_own_crops(written, face_media):
    out = written["out"]
    for i in (0, 14, 29):
        frame = face_media["pair_frames"][i]
        want = {who: align_face(frame, face_media["pair_truth"][who][i]) for who in ("astronaut", "hopper")}
        left, right = _read(out / "pair_left" / f"{i + 1:05d}.jpg"), _read(out / "pair_right" / f"{i + 1:05d}.jpg")
        # the crop at the true landmarks, within landmark noise (~3 px on a 28 px eye distance);
        # the other person's is twice as far
        assert 1.8 * _mad(left, want["astronaut"]) < _mad(left, want["hopper"])
        assert 1.8 * _mad(right, want["hopper"]) < _mad(right, want["astronaut"])


def test_rerun_skips_finished_videos(written):
    out = written["out"]
    before = os.stat(out / "talk" / "00001.jpg").st_mtime_ns
    r = CliRunner().invoke(app, ["faces", str(written["inputs"] / "talk.mp4"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "0 track(s) written, 1 already done, 0 failed" in r.output
    assert os.stat(out / "talk" / "00001.jpg").st_mtime_ns == before


def test_a_failed_write_leaves_no_partial_track(face_media, tmp_path, monkeypatch):
    import featurizer.faces.write as w

    real, calls = cv2.imwrite, []

    def flaky(path, img, params=None):
        calls.append(path)
        return False if len(calls) == 20 else real(path, img, params)

    monkeypatch.setattr(w.cv2, "imwrite", flaky)
    rep = write_faces([face_media["talk"], face_media["pair"]], tmp_path / "out")
    status = {r.track: r for r in rep.results}
    assert status["talk"].status == "failed" and "could not write the crop" in status["talk"].error
    assert status["pair_left"].status == status["pair_right"].status == "done"
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "talk" not in left and "talk.csv" not in left and not [n for n in left if n.startswith(".tmp")]
    monkeypatch.setattr(w.cv2, "imwrite", real)
    rep = write_faces([face_media["talk"], face_media["pair"]], tmp_path / "out")  # resumes
    assert {r.track: r.status for r in rep.results} == {"talk": "done", "pair_left": "skipped",
                                                       "pair_right": "skipped"}


def test_foreign_folders_are_not_overwritten(face_media, tmp_path):
    out = tmp_path / "out"
    (out / "talk").mkdir(parents=True)
    (out / "talk" / "00001.jpg").write_bytes(b"someone else's")
    r = CliRunner().invoke(app, ["faces", str(face_media["talk"]), "--out", str(out), "--detector", "haar"])
    assert r.exit_code == 1
    assert "talk: exists and was not written by featurizer faces (use another --out, or --overwrite" in r.output
    assert (out / "talk" / "00001.jpg").read_bytes() == b"someone else's"
    r = CliRunner().invoke(app, ["faces", str(face_media["talk"]), "--out", str(out), "--detector", "haar",
                                 "--overwrite"])
    assert r.exit_code == 0, r.output
    assert _read(out / "talk" / "00001.jpg").shape == (112, 112, 3)


def test_bad_options_are_one_line_errors(face_media, tmp_path):
    r = CliRunner().invoke(app, ["faces", str(face_media["talk"]), "--out", str(tmp_path), "--detector", "dlib"])
    assert r.exit_code == 2
    assert "error: --detector dlib: unknown face detector (use one of retinaface, mtcnn, haar)" in r.output
    r = CliRunner().invoke(app, ["faces", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "file not found" in r.output


def test_detect_every_is_taken_and_recorded(face_media, tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["faces", str(face_media["pair"]), "--out", str(out), "--detect-every", "5"])
    assert r.exit_code == 0, r.output
    assert "detector retinaface every 5 frames" in " ".join(r.output.split())
    rec = json.loads((out / ".featurizer-faces" / "pair.json").read_text())
    assert rec["detect_every"] == 5 and rec["detector"] == "retinaface"
    assert 30 // 5 <= rec["detector_runs"] < 30  # every 5th frame, and more only where a face was lost
    for side, who in (("left", "astronaut"), ("right", "hopper")):
        with open(out / f"pair_{side}.csv") as fh:
            rows = list(csv.reader(fh))[1:]
        assert [int(x[0]) for x in rows] == list(range(1, 31))
        lm = np.array([[float(v) for v in x[6:]] for x in rows]).reshape(-1, 5, 2)
        assert np.abs(lm - face_media["pair_truth"][who]).max() < 5  # as per-frame detection (test_faces_track)


def test_detect_every_1_writes_what_per_frame_detection_writes(face_media, tmp_path):
    """The oracle: every frame detected in batches, linked and named, as before tracking existed."""
    from featurizer.faces import load_detector, track_faces
    from featurizer.faces.scan import indexed_frames
    from featurizer.faces.write import csv_rows
    from featurizer.media.decode import probe_video

    video, det = face_media["talk"], load_detector()
    frames = [f for _, f in indexed_frames(video, probe_video(video).timestamps)]
    dets = [d for b in range(0, len(frames), 8) for d in det.detect(frames[b:b + 8])]
    (want,) = track_faces(dets).values()
    r = CliRunner().invoke(app, ["faces", str(video), "--out", str(tmp_path), "--detect-every", "1"])
    assert r.exit_code == 0, r.output
    with open(tmp_path / "talk.csv") as fh:
        assert list(csv.reader(fh))[1:] == csv_rows(want)
    for i in (0, 20):
        crop = _read(tmp_path / "talk" / f"{i + 1:05d}.jpg")
        assert _mad(crop, align_face(frames[i], want.landmarks[want.frames.tolist().index(i)])) < 2  # JPEG
    assert json.loads((tmp_path / ".featurizer-faces" / "talk.json").read_text())["detector_runs"] == 40


@pytest.mark.parametrize("value, words", [("0", "the detector runs every N frames, N 1 or more"),
                                          ("-2", "the detector runs every N frames, N 1 or more"),
                                          ("2.5", "is not a whole number of frames"),
                                          ("ten", "is not a whole number of frames")])
def test_bad_detect_every_is_a_one_line_error(face_media, tmp_path, value, words):
    r = CliRunner().invoke(app, ["faces", str(face_media["talk"]), "--out", str(tmp_path / "o"), "--detect-every", value])
    assert r.exit_code == 2
    (line,) = [ln for ln in r.output.splitlines() if ln.strip()]
    assert line == (f"error: --detect-every {value}: {words} (e.g. --detect-every 10, or --detect-every 1 to "
                    "detect every frame)")
    assert not (tmp_path / "o").exists()
