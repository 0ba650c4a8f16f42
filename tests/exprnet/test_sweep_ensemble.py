"""Sweep -> ensemble -> report on a synthetic store, through the CLI."""

import json

import numpy as np
import yaml
from exprnet.cli import app
from exprnet.prediction.predict import read_submission
from typer.testing import CliRunner

from .conftest import SMALL_MODEL, SMALL_TRAIN

runner = CliRunner()


def test_sweep_skips_finished_runs_and_ensemble_beats_members(corpus, tmp_path):
    grid = {
        "out": str(tmp_path / "sweep"),
        "base": {"data": {"store": str(corpus.store), "labels": str(corpus.labels),
                          "features": list(corpus.features)},
                 "model": dict(SMALL_MODEL), "train": {**SMALL_TRAIN, "epochs": 2}},
        "grid": {"encoder": ["lstm", "transformer"], "seed": [0, 1]},
    }
    gfile = tmp_path / "grid.yaml"
    gfile.write_text(yaml.safe_dump(grid))
    r = runner.invoke(app, ["sweep", "--grid", str(gfile)])
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert [x["run"] for x in rows] == ["lstm_s0", "lstm_s1", "transformer_s0", "transformer_s1"]
    assert all(x["status"] == "trained" for x in rows)
    r = runner.invoke(app, ["sweep", "--grid", str(gfile)])
    assert r.exit_code == 0 and all(
        x["status"] == "skipped (finished)" for x in json.loads((tmp_path / "sweep" / "sweep.json").read_text()))

    runs_file = tmp_path / "sweep" / "runs.txt"
    best = max(x["best_val_f1"] for x in rows)
    for method in ("greedy", "mean"):
        out = tmp_path / f"ens-{method}"
        r = runner.invoke(app, ["ensemble", "--runs-file", str(runs_file), "--method", method,
                                *(["--smooth", "none"] if method == "greedy" else []),
                                "--store", str(corpus.store), "--labels", str(corpus.labels), "--out", str(out),
                                "--tracks", ",".join([t for t, s in sorted(corpus.tracks.items()) if s == "Validation_Set"][:2])])
        assert r.exit_code == 0, r.output
        m = json.loads((out / "metrics.json").read_text())
        assert abs(m["best_member_f1"] - best) < 1e-6  # members re-scored from saved probabilities
        if method == "greedy":  # starts from the best member: never below it on validation
            assert m["val_f1"] >= m["best_member_f1"] - 1e-9
            assert m["fit_on_validation"] and np.isfinite(m["val_f1_cv"])
        else:
            assert m["val_f1"] >= m["best_member_f1"] - 0.02
            assert m["val_f1_cv"] == m["val_f1"]  # nothing fit on validation
        sub = read_submission(out / "submission.txt")
        assert sorted(sub) == sorted([t for t, s in sorted(corpus.tracks.items()) if s == "Validation_Set"][:2])
        assert (out / "agreement.png").stat().st_size > 1000 and (out / "confusion.png").exists()
    r = runner.invoke(app, ["report", str(tmp_path / "ens-greedy")])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "ens-greedy" / "REPORT.md").read_text()
    assert "Table 3 layout" in page and "lstm_s0" in page and "![Member agreement](agreement.png)" in page
    r = runner.invoke(app, ["report", rows[0]["path"]])
    assert r.exit_code == 0 and "curves.png" in (tmp_path / "sweep" / "lstm_s0" / "REPORT.md").read_text()


def test_smoothing_is_cross_validated(small, tmp_path):
    from exprnet.training.experiment import train

    from .conftest import config_for

    run = tmp_path / "r"
    train(config_for(small, train={"epochs": 1}), run)
    out = tmp_path / "e"
    r = runner.invoke(app, ["ensemble", "--runs", str(run), "--method", "mean", "--smooth", "box:optimistic",
                            "--store", str(small.store), "--labels", str(small.labels), "--out", str(out),
                            "--cv-folds", "2"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["smoothing"]["kind"] == "box" and m["fit_on_validation"]
    assert m["smoothing"]["chosen_on"] == "validation (optimistic)" and "optimistic" in r.output
    assert "cross-validated estimate" in r.output


def test_ensemble_errors_are_named(small, tmp_path):
    r = runner.invoke(app, ["ensemble", "--runs", str(tmp_path / "nope"), "--store", str(small.store),
                            "--labels", str(small.labels), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "nope" in r.output and "not a finished run folder" in r.output
    r = runner.invoke(app, ["ensemble", "--runs", "x", "--method", "magic", "--store", "s", "--labels", "l",
                            "--out", "o"])
    assert r.exit_code == 2
    bad = tmp_path / "g.yaml"
    bad.write_text(yaml.safe_dump({"out": str(tmp_path / "s"), "grid": {"colour": ["red"]}}))
    r = runner.invoke(app, ["sweep", "--grid", str(bad)])
    assert r.exit_code == 2 and "colour" in r.output
