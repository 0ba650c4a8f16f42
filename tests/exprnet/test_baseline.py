"""`exprnet baseline`: the classifiers against scikit-learn, the cross-validated width, run folders."""

import json

import numpy as np
import pytest
from exprnet.baseline.classifier import FrameClassifier
from exprnet.baseline.fit import evaluate_baseline, out_of_fold
from exprnet.cli import app
from exprnet.config import BaselineConfig, build_config
from exprnet.data.bank import Standardizer
from exprnet.data.batches import BatchBuilder
from exprnet.reports.progress import NullReporter
from exprnet.training import experiment
from exprnet.training.experiment import prepare
from exprnet.training.runfolder import RunFolder
from exprnet.training.trainer import Trainer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from typer.testing import CliRunner

from .conftest import config_for

runner = CliRunner()


def test_numpy_forward_equals_sklearn(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    y = np.where(x[:, 0] > 0.5, 3, np.where(x[:, 1] > 0, 0, 6))  # three of the eight classes
    for est in (LogisticRegression(class_weight="balanced").fit(x, y),
                MLPClassifier((7,), max_iter=400, random_state=0).fit(x, y),
                LogisticRegression().fit(x, (y == 3).astype(int) * 5)):  # two classes: one logistic output
        clf = FrameClassifier.from_estimator(est)
        got = clf.predict_proba(x)
        assert got.shape == (300, 8)
        np.testing.assert_allclose(got[:, est.classes_], est.predict_proba(x), atol=1e-5)
        assert np.all(got[:, np.setdiff1d(np.arange(8), est.classes_)] == 0)
        clf.save(tmp_path / "c.npz")
        np.testing.assert_array_equal(FrameClassifier.load(tmp_path / "c.npz").predict_proba(x), got)


def baseline_cfg(c, **over):
    return config_for(c, baseline=BaselineConfig(**over).model_dump(), smooth={"kind": "box"})


def test_auto_width_never_reads_the_validation_labels(small):
    cfg = baseline_cfg(small)
    prep = prepare(cfg)
    bank = prep.bank
    first = evaluate_baseline(cfg, bank, prep.split.train, prep.split.val).metrics
    for i in bank.ids(prep.split.val):  # scramble every validation label
        r = bank.rows(i)
        bank.labels[r] = np.random.default_rng(i).integers(-1, 8, r.stop - r.start)
    second = evaluate_baseline(cfg, bank, prep.split.train, prep.split.val).metrics
    assert first["smoothing"] == second["smoothing"] and first["train_cv_f1"] == second["train_cv_f1"]
    assert first["val_f1_raw"] != second["val_f1_raw"]
    assert first["smoothing"]["chosen_on"].startswith("training tracks")


def test_out_of_fold_probabilities_come_from_other_source_videos(small, monkeypatch):
    cfg = baseline_cfg(small, folds=2)
    prep = prepare(cfg)
    bank = prep.bank
    builder = BatchBuilder(bank, Standardizer.fit(bank, bank.ids(prep.split.train)), 1)
    fitted_on: list[int] = []
    real = FrameClassifier.fit

    def spy(kind, x, y, **kw):
        fitted_on.append(len(y))
        return real(kind, x, y, **kw)

    monkeypatch.setattr(FrameClassifier, "fit", staticmethod(spy))
    oof = out_of_fold(BaselineConfig(folds=2), builder, prep.split.train, 0, NullReporter())
    assert sorted(oof) == sorted(bank.ids(prep.split.train)) and len(fitted_on) == 2
    assert sum(fitted_on) == bank.labelled(bank.ids(prep.split.train))  # each frame fitted once, held out once


def test_network_smoothing_width_never_reads_the_validation_labels(small, tmp_path):
    cfg = config_for(small, "mlp", train={"epochs": 1}, smooth={"kind": "box"})
    prep = prepare(cfg)
    t = Trainer(cfg, prep.bank, prep.split.train, prep.split.val, RunFolder(tmp_path / "r"))
    t.fit()
    first = t.fit_smoothing()
    for i in t.val_ids:
        r = prep.bank.rows(i)
        prep.bank.labels[r] = (prep.bank.labels[r] + 3) % 8
    second = t.fit_smoothing()
    assert first["width"] == second["width"] and first["train_f1_by_width"] == second["train_f1_by_width"]
    assert first["val_f1"] != second["val_f1"]


def test_baseline_run_folder_predict_ensemble_report(small, tmp_path):
    out = tmp_path / "base"
    r = runner.invoke(app, ["baseline", "--store", str(small.store), "--labels", str(small.labels),
                            "--features", "vis,aud", "--out", str(out), "--normalize", "track"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["kind"] == "baseline" and m["encoder"] == "baseline-logreg" and m["smoothing"]["kind"] == "box"
    assert (out / "checkpoints" / "baseline.npz").exists() and (out / "confusion.png").exists()
    # predict applies the recorded smoothing; --smooth none gives the raw classifier
    val = sorted(t for t, s in small.tracks.items() if s == "Validation_Set")
    common = ["predict", "--run", str(out), "--store", str(small.store), "--tracks", ",".join(val),
              "--labels", str(small.labels)]
    r = runner.invoke(app, [*common, "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    pm = json.loads((tmp_path / "p" / "metrics.json").read_text())
    assert pm["f1"] == pytest.approx(m["best_val_f1"]) and pm["smoothing"]["width"] == m["smoothing"]["width"]
    r = runner.invoke(app, [*common, "--out", str(tmp_path / "q"), "--smooth", "none"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "q" / "metrics.json").read_text())["f1"] == pytest.approx(m["val_f1_raw"])
    # an ensemble member beside a network run; a report
    experiment.train(config_for(small, "mlp", train={"epochs": 1}), tmp_path / "net")
    r = runner.invoke(app, ["ensemble", "--runs", f"{out},{tmp_path / 'net'}", "--method", "mean", "--store",
                            str(small.store), "--labels", str(small.labels), "--out", str(tmp_path / "e"),
                            "--smooth", "box:auto"])
    assert r.exit_code == 0, r.output
    em = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert em["members"][0]["encoder"] == "baseline-logreg" and em["smooth"]["chosen_on"] == "training tracks"
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0


def test_train_prints_the_cached_baseline(small, tmp_path):
    args = ["train", "--store", str(small.store), "--labels", str(small.labels), "--features", "vis,aud",
            "--encoder", "mlp", "--epochs", "1", "--device", "cpu", "--segment", "32", "--d-model", "16",
            "--hidden", "16"]
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    line = " ".join(r.output.split())
    assert "baseline (logreg + box" in line and "same split)" in line
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "--seed", "1"])
    assert "same split, cached)" in " ".join(r.output.split())


def test_bad_smooth_and_classifier_are_named(small, tmp_path):
    r = runner.invoke(app, ["baseline", "--store", str(small.store), "--labels", str(small.labels),
                            "--features", "vis", "--out", str(tmp_path / "x"), "--smooth", "wobble"])
    assert r.exit_code == 2 and "--smooth wobble" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["baseline", "--store", str(small.store), "--labels", str(small.labels),
                            "--features", "vis", "--out", str(tmp_path / "y"), "--classifier", "svm"])
    assert r.exit_code == 2 and "baseline.classifier" in r.output


def test_build_config_records_baseline_model_name(small):
    cfg = build_config({"baseline": {"classifier": "mlp"}})
    assert cfg.model_name == "baseline-mlp" and build_config().model_name == "lstm"
