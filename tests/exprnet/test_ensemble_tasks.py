"""`exprnet ensemble` of runs with VA and AU heads: each shared task combined and scored, its
submission written; scores checked against a direct computation (CCC formula, sklearn's F1)."""

import json

import numpy as np
from exprnet.cli import app
from exprnet.tasks.submission import read_au_submission, read_va_submission
from featurizer.core.annotations import read_labels
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from .test_multitask import three  # noqa: F401  (the fixture: a corpus with EXPR, VA and AU labels)

runner = CliRunner()


def _ccc(x, y):
    mx, my = x.mean(), y.mean()
    return 2 * ((x - mx) * (y - my)).mean() / (x.var() + y.var() + (mx - my) ** 2)


def test_va_au_ensemble_scores_and_submissions(three, tmp_path):  # noqa: F811
    common = ["--store", str(three.store), "--features", ",".join(three.features), "--encoder", "mlp",
              "--epochs", "1", "--segment", "32", "--device", "cpu", "--labels", str(three.va_dir),
              "--labels", str(three.au_dir)]
    runs = []
    for seed in (0, 1):
        r = runner.invoke(app, ["train", *common, "--seed", str(seed), "--out", str(tmp_path / f"r{seed}")])
        assert r.exit_code == 0, r.output
        runs.append(str(tmp_path / f"r{seed}"))
    out = tmp_path / "ens"
    r = runner.invoke(app, ["ensemble", *runs, "--store", str(three.store), "--labels", str(three.va_dir),
                            "--labels", str(three.au_dir), "--out", str(out)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["tasks"] == ["va", "au"] and set(m["per_task"]) == {"va", "au"}
    val = sorted(t for t, s in three.tracks.items() if s == "Validation_Set")
    va_sub, au_sub = read_va_submission(out / "submission_va.txt"), read_au_submission(out / "submission_au.txt")
    assert sorted(va_sub) == sorted(au_sub) == val
    members = sorted((out / "members").iterdir())
    yv, pv, ya, pa = [], [], [], []
    for t in val:
        va_file = three.va_dir / "Validation_Set" / f"{t}.txt"
        mean_va = np.mean([np.load(d / "val" / "va" / f"{t}.npy").astype(np.float64) for d in members], 0)
        np.testing.assert_allclose(va_sub[t], mean_va, atol=1e-6)
        if va_file.exists():
            yv.append(read_labels(va_file).values)
            pv.append(mean_va)
        au_file = three.au_dir / "Validation_Set" / f"{t}.txt"
        mean_au = np.mean([np.load(d / "val" / "au" / f"{t}.npy") for d in members], 0)
        np.testing.assert_array_equal(au_sub[t], (mean_au >= 0.5).astype(np.int8))
        if au_file.exists():
            ya.append(read_labels(au_file).values)
            pa.append(au_sub[t])
    y, p = np.concatenate(yv), np.concatenate(pv)
    keep = ~np.isnan(y).any(1)
    want = np.mean([_ccc(p[keep, d], y[keep, d]) for d in range(2)])
    assert abs(m["val_va"] - want) < 1e-5 and abs(m["per_task"]["va"]["val_va"] - want) < 1e-5
    y, p = np.concatenate(ya), np.concatenate(pa)
    keep = (y >= 0).all(1)
    want = np.mean([f1_score(y[keep, k], p[keep, k], zero_division=0) for k in range(12)])
    assert abs(m["val_au_f1"] - want) < 1e-9
    assert len(m["per_task"]["au"]["member"]) == 2 and "ensemble" in r.output
    # EXPR labels for runs without an EXPR head: one clear line
    r = runner.invoke(app, ["ensemble", *runs, "--store", str(three.store), "--labels", str(three.labels),
                            "--out", str(tmp_path / "e")])
    assert r.exit_code == 2 and "holds labels of expr but the runs share va, au" in r.output, r.output
