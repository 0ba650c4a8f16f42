"""``exprnet baseline`` with VA and AU labels: run folder, metrics keys, predict reads it back exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from exprnet.cli import app
from exprnet.data.synthetic import CorpusSpec, make_corpus
from exprnet.tasks.metrics import va_scores
from exprnet.tasks.names import AU_NAMES
from exprnet.tasks.submission import read_au_submission, read_va_submission
from typer.testing import CliRunner


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("c"), CorpusSpec(n_tracks=16, frames=16000, seed=1))


def _baseline(corpus, out, *dirs):
    args = ["baseline", "--store", str(corpus.store), "--features", "visual,audio", "--out", str(out)]
    for d in dirs:
        args += ["--labels", str(d)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    return json.loads((out / "metrics.json").read_text())


def test_va_au_baseline_run_and_predict(corpus, tmp_path):
    m = _baseline(corpus, tmp_path / "b", corpus.va_labels, corpus.au_labels)
    assert m["tasks"] == ["va", "au"]
    for k in ("val_va", "val_ccc_valence", "val_ccc_arousal", "val_au_f1", *(f"val_f1_{a}" for a in AU_NAMES)):
        assert 0.0 <= m[k] <= 1.0, k
    assert m["val_va"] == pytest.approx((m["val_ccc_valence"] + m["val_ccc_arousal"]) / 2)
    assert m["val_au_f1"] == pytest.approx(np.mean([m[f"val_f1_{a}"] for a in AU_NAMES]))
    assert m["val_score"] == pytest.approx((m["val_va"] + m["val_au_f1"]) / 2)
    assert m["val_va"] > 0.2 and m["val_au_f1"] > 0.3  # the features carry both tasks
    for f in ("va_scatter.png", "va_series.png", "au_f1.png", "checkpoints/baseline_va.npz",
              "checkpoints/baseline_au.npz", "oof/va.npz", "oof/au.npz", "stats.npz", "config.yaml"):
        assert (tmp_path / "b" / f).exists(), f

    r = CliRunner().invoke(app, ["report", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    rep = (tmp_path / "b" / "REPORT.md").read_text()
    assert f"**{m['val_va']:.4f}**" in rep and f"**{m['val_au_f1']:.4f}**" in rep
    assert "![AU: per-AU F1 (validation)](au_f1.png)" in rep and "(va_scatter.png)" in rep

    val = sorted(t for t, s in corpus.tracks.items() if s == "Validation_Set")
    lst = tmp_path / "val.txt"
    lst.write_text("\n".join(val) + "\n")
    out = tmp_path / "p"
    r = CliRunner().invoke(app, ["predict", "--run", str(tmp_path / "b"), "--store", str(corpus.store), "--tracks",
                                 str(lst), "--out", str(out), "--labels", str(corpus.va_labels),
                                 "--labels", str(corpus.au_labels)])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "metrics.json").read_text())
    assert s["va"] == pytest.approx(m["val_va"], abs=1e-6)  # predict = what the baseline scored
    va = read_va_submission(out / "submission_va.txt")
    t_va = [t for t in val if t in corpus.va_arrays]
    # independent: the scores of the submission file against the label arrays the corpus generated
    hand = va_scores(np.concatenate([va[t] for t in t_va]), np.concatenate([corpus.va_arrays[t] for t in t_va]))
    assert hand["va"] == pytest.approx(s["va"], abs=1e-4)  # the file's 6 digits
    au = read_au_submission(out / "submission_au.txt")
    assert set(np.unique(np.concatenate(list(au.values())))) <= {0, 1}


def test_post_processing_blind_to_validation_labels(corpus, tmp_path):
    m1 = _baseline(corpus, tmp_path / "b1", corpus.va_labels)
    # the same corpus with every validation VA label flipped: same choice, other score
    import shutil

    flipped = tmp_path / "VA_Set"
    shutil.copytree(corpus.va_labels, flipped)
    from featurizer.core.annotations import read_labels, write_va_annotation

    for f in (flipped / "Validation_Set").glob("*.txt"):
        write_va_annotation(f, -read_labels(f).values)
    m2 = _baseline(corpus, tmp_path / "b2", flipped)
    assert m1["task_baselines"]["va"]["smoothing"] == m2["task_baselines"]["va"]["smoothing"]
    assert m1["val_va"] != m2["val_va"]
