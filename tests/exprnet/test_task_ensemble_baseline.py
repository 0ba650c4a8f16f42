"""`exprnet ensemble` of a multi-task network beside an `exprnet baseline` run of the same three
tasks: the baseline member's outputs are post-processed once, by its own fitted post-processing
(VA smoothing, AU smoothing and thresholds, EXPR calibration and decoding), so each member scores
what `exprnet predict` on that run reports; its out-of-fold training predictions are read; EXPR is
decoded as an EXPR-only ensemble's default would."""

import json

import numpy as np
from exprnet.baseline.tasks import load_task, read_oof
from exprnet.cli import app
from exprnet.ensemble.task_fit import oof_tasks
from typer.testing import CliRunner

from .test_multitask import three  # noqa: F401  (the fixture: a corpus with EXPR, VA and AU labels)

runner = CliRunner()
KEYS = {"expr": "f1", "va": "va", "au": "au_f1"}


def test_a_baseline_member_is_post_processed_once_and_scores_what_predict_reports(three, tmp_path):  # noqa: F811
    base = ["--store", str(three.store), "--features", ",".join(three.features)]
    labs = ["--labels", str(three.labels), "--labels", str(three.va_dir), "--labels", str(three.au_dir)]
    env = {"COLUMNS": "200"}
    r = runner.invoke(app, ["train", *base, *labs, "--encoder", "mlp", "--epochs", "2", "--segment", "32",
                            "--device", "cpu", "--out", str(tmp_path / "net")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["baseline", *base, *labs, "--out", str(tmp_path / "base")], env=env)
    assert r.exit_code == 0, r.output
    out = tmp_path / "ens"
    r = runner.invoke(app, ["ensemble", str(tmp_path / "net"), str(tmp_path / "base"), "--store", str(three.store),
                            *labs, "--out", str(out)], env=env)
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    # neither member decodes (both box smoothing): EXPR-only's default, the better of Viterbi and HSMM
    # cross-validated on the training tracks (not the first member's kind)
    assert m["smooth"]["kind_chosen_on"] == "training tracks: best cv_f1"
    assert set(m["smooth"]["cv_f1_by_kind"]) == {"viterbi", "hsmm"} and m["postprocess"][-1]["kind"] in ("viterbi", "hsmm")
    val = sorted(t for t, s in three.tracks.items() if s == "Validation_Set")
    for k, run in enumerate(("net", "base")):
        r = runner.invoke(app, ["predict", "--run", str(tmp_path / run), "--store", str(three.store), "--tracks",
                                ",".join(val), *labs, "--out", str(tmp_path / f"p-{run}")], env=env)
        assert r.exit_code == 0, r.output
        pm = json.loads((tmp_path / f"p-{run}" / "metrics.json").read_text())
        for task, key in KEYS.items():
            assert abs(m["per_task"][task]["member"][k] - pm[key]) < 1e-9, (run, task)
    # the baseline member's kept arrays are its models' own outputs: its post-processing applied once
    # to them gives what predict writes
    kept = out / "members" / "1-base" / "val"
    for task in ("va", "au"):
        post = load_task(tmp_path / "base", task).post
        for t in val:
            raw = np.load(kept / task / f"{t}.npy")
            want = np.load(tmp_path / "p-base" / task / f"{t}.npy")
            got = post.apply_track(raw) if task == "va" else post.smooth_track(raw)
            np.testing.assert_allclose(got, want, atol=1e-6)
            assert not np.allclose(raw, want, atol=1e-4), (task, t)  # the smoothing did something
    # its out-of-fold training predictions (RUN/oof/<task>.npz) are the ones the ensemble reads
    preds, labels = read_oof(tmp_path / "base", "va")
    names = sorted(preds)
    got = oof_tasks(tmp_path / "base", "va", names, [len(labels[t]) for t in names])
    assert got is not None and all(np.array_equal(g, preds[t]) for g, t in zip(got, names, strict=True))
    # a bundle of the baseline predicts EXPR and says that its VA and AU models are left out
    r = runner.invoke(app, ["bundle", str(tmp_path / "base"), "--store", str(three.store), *labs, "--out",
                            str(tmp_path / "bundle")], env=env)
    assert r.exit_code == 0, r.output
    assert "VA and AU baseline left out" in " ".join(r.output.split())
    assert json.loads((tmp_path / "bundle" / "bundle.json").read_text())["members"][0]["kind"] == "baseline"
