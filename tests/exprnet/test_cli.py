import json

import numpy as np
from exprnet.cli import app
from sklearn.metrics import f1_score
from typer.testing import CliRunner

runner = CliRunner()


def test_presets_command():
    r = runner.invoke(app, ["presets"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "demo" in r.output and "t1-r8" in r.output and "0.41410" in r.output
    r = runner.invoke(app, ["presets", "--json"])
    assert r.exit_code == 0, r.output
    items = json.loads(r.output)
    assert all(set(p) >= {"name", "encoder", "features", "paper", "config"} for p in items)
    t18 = next(p for p in items if p["name"] == "t1-r8")
    assert t18["paper"] == {"table": 1, "row": 8, "f1": 0.4141} and t18["encoder"] == "lstm"
    assert t18["features"] == ["densenet", "mae", "ires100", "ecapatdnn", "hubert"]
    assert t18["config"]["model"]["d_model"] == 1024 and t18["config"]["train"]["seed"] == 3407  # resolved
    assert next(p for p in items if p["name"] == "demo")["paper"] is None


def test_help_lists_commands():
    r = runner.invoke(app, ["--help"])
    for cmd in ("train", "cv", "predict", "presets"):
        assert cmd in r.output


def test_train_command_and_resume(small, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--store", str(small.store), "--labels", str(small.labels), "--features", "vis,aud",
            "--encoder", "transformer", "--out", str(out), "--epochs", "1", "--batch-size", "8",
            "--lr", "0.003", "--seed", "1", "--segment", "16", "--d-model", "32", "--layers", "1",
            "--heads", "2", "--hidden", "32", "--device", "cpu", "--set", "model.head=[32]"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "val F1" in r.output and (out / "metrics.json").exists()
    cfg = (out / "config.yaml").read_text()
    assert "d_model: 32" in cfg and "head: [32]" in cfg and "seed: 1" in cfg
    r = runner.invoke(app, ["train", "--resume", str(out), "--epochs", "2"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "metrics.json").read_text())["last_epoch"] == 2
    r = runner.invoke(app, ["train", "--resume", str(out), "--lr", "0.1"])
    assert r.exit_code == 2 and "--lr" in r.output


def test_cv_command(small, tmp_path):
    out = tmp_path / "cv"
    r = runner.invoke(app, ["cv", "--store", str(small.store), "--labels", str(small.labels),
                            "--features", "vis,aud", "--out", str(out), "--folds", "3", "--epochs", "1",
                            "--d-model", "16", "--hidden", "16", "--segment", "16",
                            "--set", "model.head=[16]", "--device", "cpu"],
                      env={"COLUMNS": "160"})  # tables may wrap at narrow widths; this one is read
    assert r.exit_code == 0, r.output
    res = json.loads((out / "cv.json").read_text())
    assert [f["fold"] for f in res["folds"]] == [1, 2, 3]
    assert abs(res["mean_f1"] - sum(f["best_val_f1"] for f in res["folds"]) / 3) < 1e-9
    assert "mean" in r.output and "pooled" in r.output
    # pooled: every labelled frame once, scored as sklearn scores the frames the confusions count
    cms = [np.array(json.loads((out / f"fold{k}" / "metrics.json").read_text())["val_confusion"]) for k in (1, 2, 3)]
    pooled = sum(cms)
    assert pooled.sum() == sum(f["val_frames"] for f in res["folds"])
    true, pred = np.nonzero(pooled)
    counts = pooled[true, pred]
    want = f1_score(np.repeat(true, counts), np.repeat(pred, counts), labels=range(8), average="macro", zero_division=0)
    assert abs(res["pooled_f1"] - want) < 1e-9
    folds = json.loads((out / "folds.json").read_text())
    assert sorted(folds[-1]["val"]) == sorted(t for t, s in small.tracks.items() if s == "Validation_Set")
    # re-running keeps finished folds
    r = runner.invoke(app, ["cv", "--store", str(small.store), "--labels", str(small.labels),
                            "--features", "vis,aud", "--out", str(out), "--folds", "3", "--epochs", "1",
                            "--d-model", "16", "--hidden", "16", "--segment", "16",
                            "--set", "model.head=[16]", "--device", "cpu"])
    assert r.exit_code == 0 and "finished already" in r.output
