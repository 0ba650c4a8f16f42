"""Every bad input is a clear error (or, where asked, a warning) naming the track."""

import numpy as np
import pytest
from exprnet.cli import app
from exprnet.errors import DataError, ExprnetWarning, TrainingError
from exprnet.training import experiment
from exprnet.training.experiment import prepare
from exprnet.training.runfolder import RunFolder
from exprnet.training.trainer import Trainer
from typer.testing import CliRunner

from .conftest import config_for
from .synth import open_store, write_labels


def a_train_track(c):
    return sorted(t for t, s in c.tracks.items() if s == "Train_Set")[0]


def test_missing_feature_names_the_track(tiny):
    t = a_train_track(tiny)
    z = open_store(tiny.store)
    z.delete_feature(t, "aud")
    with pytest.raises(DataError, match=f"{t}.*'aud'"):
        prepare(config_for(tiny))


def test_incomplete_feature_counts_as_missing(tiny):
    t = a_train_track(tiny)
    z = open_store(tiny.store)
    z.track(t)["features"]["vis"].attrs["complete"] = False  # as a killed write leaves it
    with pytest.raises(DataError, match=f"{t}.*'vis'"):
        prepare(config_for(tiny))


def test_skip_missing_warns_naming_the_track(tiny):
    t = a_train_track(tiny)
    z = open_store(tiny.store)
    z.delete_feature(t, "aud")
    with pytest.warns(ExprnetWarning, match=t):
        prep = prepare(config_for(tiny, data={"on_missing": "skip"}))
    assert t not in prep.bank.tracks and t not in prep.split.train


def test_label_length_mismatch_names_the_track(tiny):
    t = a_train_track(tiny)
    lab = tiny.label_arrays[t]
    write_labels(tiny.labels / "Train_Set" / f"{t}.txt", np.r_[lab, [0, 0, 0]])
    with pytest.raises(DataError, match=f"{t}.*{len(lab) + 3} labels but {len(lab)} rows"):
        prepare(config_for(tiny))


def test_track_in_labels_not_in_store(tiny):
    write_labels(tiny.labels / "Validation_Set" / "ghost_left.txt", np.zeros(30, int))
    with pytest.raises(DataError, match="'ghost_left' is not in the store"):
        prepare(config_for(tiny))


def test_nan_in_features_names_track_and_frame(tiny):
    t = a_train_track(tiny)
    z = open_store(tiny.store)
    z.track(t)["features"]["vis"]["values"][5, 2] = np.nan  # a store the writer would refuse
    with pytest.raises(DataError, match=f"{t}/vis.*NaN.*00006.jpg"):
        prepare(config_for(tiny))


def test_empty_split(tiny):
    import shutil

    shutil.rmtree(tiny.labels / "Validation_Set")
    with pytest.raises(DataError, match="validation split is empty"):
        prepare(config_for(tiny))


def test_split_with_only_unlabelled_frames(tiny):
    for t, s in tiny.tracks.items():
        if s == "Validation_Set":
            write_labels(tiny.labels / s / f"{t}.txt", np.full(len(tiny.label_arrays[t]), -1))
    with pytest.raises(DataError, match="validation split has no labelled frame"):
        prepare(config_for(tiny))


def test_nan_loss_stops_training_naming_step_and_batch(tiny, tmp_path, monkeypatch):
    import exprnet.training.losses as train_mod  # the trainer's Criterion calls losses.rdrop_loss

    real = train_mod.rdrop_loss
    calls = {"n": 0}

    def poisoned(*a, **k):
        out = real(*a, **k)
        calls["n"] += 1
        if calls["n"] == 2:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(train_mod, "rdrop_loss", poisoned)
    cfg = config_for(tiny, model={"segment": 8}, train={"batch_size": 2})
    prep = prepare(cfg)
    with pytest.raises(TrainingError, match=r"epoch 1, step 2/\d+.*loss is nan.*batch: \S+\[\d+:\d+\]"):
        Trainer(cfg, prep.bank, prep.split.train, prep.split.val, RunFolder(tmp_path / "run")).fit()


def test_cli_reports_once_without_traceback(tiny, tmp_path):
    t = a_train_track(tiny)
    z = open_store(tiny.store)
    z.delete_feature(t, "vis")
    r = CliRunner().invoke(app, ["train", "--store", str(tiny.store), "--labels", str(tiny.labels),
                                 "--features", "vis,aud", "--out", str(tmp_path / "run"), "--epochs", "1"])
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    assert r.output.count("error") == 1 and t in r.output


def test_cli_config_errors(tiny, tmp_path):
    r = CliRunner().invoke(app, ["train", "--store", str(tiny.store), "--labels", str(tiny.labels),
                                 "--features", "vis", "--out", str(tmp_path / "r"), "--set", "model.nope=1"])
    assert r.exit_code == 2 and "model.nope" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["train", "--preset", "no-such-preset", "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "no such preset" in r.output


def test_run_folder_is_not_overwritten(small, tmp_path):
    cfg = config_for(small, train={"epochs": 1})
    experiment.train(cfg, tmp_path / "run")
    from exprnet.errors import RunError

    with pytest.raises(RunError, match="holds a run already"):
        experiment.train(cfg, tmp_path / "run")
