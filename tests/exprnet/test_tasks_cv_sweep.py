"""``exprnet cv`` and ``exprnet sweep`` with VA and AU labels: every task scored on its primary metric."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from exprnet.cli import app
from exprnet.data.synthetic import CorpusSpec, make_corpus
from typer.testing import CliRunner


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    spec = CorpusSpec(n_tracks=14, frames=5000, visual_dim=8, audio_dim=4, va_share=1.0, au_share=1.0, seed=2)
    return make_corpus(tmp_path_factory.mktemp("c"), spec)


FAST = ["--encoder", "mlp", "--epochs", "1", "--segment", "32", "--device", "cpu"]


def test_cv_multitask(corpus, tmp_path):
    r = CliRunner().invoke(app, ["cv", "--store", str(corpus.store), "--features", "visual,audio", "--labels",
                                 str(corpus.va_labels), "--labels", str(corpus.au_labels), "--folds", "2",
                                 "--out", str(tmp_path / "cv"), *FAST], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert res["tasks"] == ["va", "au"] and len(res["folds"]) == 2
    for row in res["folds"]:
        fold = json.loads((tmp_path / "cv" / f"fold{row['fold']}" / "metrics.json").read_text())
        assert row["val_va"] == fold["val_va"] and row["val_au_f1"] == fold["val_au_f1"]
        assert row["val_score"] == pytest.approx((fold["val_va"] + fold["val_au_f1"]) / 2)
    vas = [row["val_va"] for row in res["folds"]]
    assert res["task_means"]["val_va"] == pytest.approx([np.mean(vas), np.std(vas)])
    assert res["mean_f1"] == pytest.approx(np.mean([row["val_score"] for row in res["folds"]]))
    assert "VA CCC" in r.output and "AU F1" in r.output
    # report on a multi-task network run: every task's scores; the AU bars drawn from metrics.json
    r = CliRunner().invoke(app, ["report", str(tmp_path / "cv" / "fold1")])
    assert r.exit_code == 0, r.output
    rep = (tmp_path / "cv" / "fold1" / "REPORT.md").read_text()
    fold = json.loads((tmp_path / "cv" / "fold1" / "metrics.json").read_text())
    assert f"**{fold['val_va']:.4f}**" in rep and f"{fold['val_f1_AU12']:.3f}" in rep
    assert (tmp_path / "cv" / "fold1" / "au_f1.png").exists()


def test_sweep_va(corpus, tmp_path):
    grid = {"out": str(tmp_path / "sw"),
            "base": {"data": {"store": str(corpus.store), "labels": [str(corpus.va_labels)],
                              "features": ["visual", "audio"]},
                     "model": {"encoder": "mlp", "segment": 32}, "train": {"epochs": 1, "device": "cpu"}},
            "grid": {"seed": [0]}}
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(grid))
    r = CliRunner().invoke(app, ["sweep", "--grid", str(tmp_path / "g.yaml")], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert [row["tasks"] for row in rows] == ["va"]
    for row in rows:
        m = json.loads((tmp_path / "sw" / row["run"] / "metrics.json").read_text())
        assert row["val_va"] == m["val_va"] == row["score"] and row["best_val_f1"] is None
    assert "VA CCC" in r.output
