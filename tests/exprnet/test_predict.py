import numpy as np
import pytest
from exprnet.cli import app
from exprnet.errors import DataError
from exprnet.prediction.predict import HEADER, read_submission, write_submission
from exprnet.training import experiment
from typer.testing import CliRunner

from .conftest import config_for


def test_submission_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    items = [("10-60-1280x720_right", rng.integers(0, 8, 7)), ("video45_3", rng.integers(0, 8, 12000)),
             ("102", rng.integers(0, 8, 1))]
    n = write_submission(tmp_path / "s.txt", items)
    assert n == 7 + 12000 + 1
    lines = (tmp_path / "s.txt").read_text().splitlines()
    assert lines[0] == HEADER
    assert lines[1].startswith("10-60-1280x720_right/00001.jpg,")
    assert lines[8].startswith("video45_3/00001.jpg,") and lines[8 + 9999].startswith("video45_3/10000.jpg,")
    back = read_submission(tmp_path / "s.txt")
    assert list(back) == [t for t, _ in items]
    for t, lab in items:
        np.testing.assert_array_equal(back[t], lab)


def test_read_submission_checks_frames(tmp_path):
    (tmp_path / "s.txt").write_text(HEADER + "\na/00001.jpg,1\na/00003.jpg,2\n")
    with pytest.raises(DataError, match="expected frame 00002.jpg"):
        read_submission(tmp_path / "s.txt")


@pytest.fixture(scope="module")
def trained(small, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    experiment.train(config_for(small, "transformer", train={"epochs": 1}), out)
    return out


def test_predict_cli_writes_probs_and_submission(small, trained, tmp_path):
    lst = tmp_path / "tracks.txt"
    names = sorted(small.tracks)
    lst.write_text("\n".join(names) + "\n")
    r = CliRunner().invoke(app, ["predict", "--run", str(trained), "--store", str(small.store), "--tracks",
                                 str(lst), "--out", str(tmp_path / "pred"), "--labels", str(small.labels),
                                 "--device", "cpu"])
    assert r.exit_code == 0, r.output
    sub = read_submission(tmp_path / "pred" / "submission.txt")
    assert list(sub) == names
    for t in names:
        p = np.load(tmp_path / "pred" / "probs" / f"{t}.npy")
        assert p.shape == (len(small.label_arrays[t]), 8) and p.dtype == np.float32
        np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
        np.testing.assert_array_equal(sub[t], p.argmax(1))
    assert "F1" in r.output


def test_predict_tracks_from_folder_and_unknown_track(small, trained, tmp_path):
    r = CliRunner().invoke(app, ["predict", "--run", str(trained), "--store", str(small.store), "--tracks",
                                 str(small.labels / "Validation_Set"), "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert set(read_submission(tmp_path / "p" / "submission.txt")) == {
        t for t, s in small.tracks.items() if s == "Validation_Set"}
    r = CliRunner().invoke(app, ["predict", "--run", str(trained), "--store", str(small.store), "--tracks",
                                 "val0,nope_left", "--out", str(tmp_path / "q")])
    assert r.exit_code == 2 and "nope_left" in r.output and "Traceback" not in r.output
