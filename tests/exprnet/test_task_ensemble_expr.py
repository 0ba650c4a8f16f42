"""`exprnet ensemble` of multi-task runs: EXPR as the EXPR-only default (members calibrated with
their own calibration, combined, one temperature and decoder fitted on the shared training tracks'
out-of-fold probabilities), members scored after their own post-processing, and its bundle.

Oracles: the chain recomputed by hand (MemberTraining / fixed_post on the runs' RUN/oof/probs.npz),
sklearn's macro F1 over the 8 classes on the decoded labels, ``exprnet predict`` on each run, the
bundle's own predictions."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from exprnet.deploy.bundle import Bundle
from exprnet.deploy.make_task_ensemble import make_task_ensemble_bundle
from exprnet.ensemble.combine import Combiner
from exprnet.ensemble.post import MemberTraining, fixed_post
from exprnet.ensemble.task_expr import expr_training, fit_expr_chain
from exprnet.ensemble.tasks import run_task_ensemble
from exprnet.postprocess.calibration import Calibration, read_calibration
from exprnet.postprocess.choice import apply_all
from exprnet.postprocess.decoding import spec_from_config
from exprnet.prediction.predict import read_submission
from exprnet.prediction.tasks import predict_tasks
from exprnet.training import experiment
from exprnet.training.runfolder import RunFolder
from featurizer.core.annotations import read_annotation, write_annotation
from sklearn.metrics import f1_score

from .conftest import config_for
from .test_tasks_oof import task_corpus

SMOOTH = {"kind": "viterbi", "weight": "auto", "calibrate": "temperature", "folds": 2}


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    keep = y >= 0
    return float(f1_score(y[keep], pred[keep], average="macro", labels=range(8), zero_division=0))


@pytest.fixture(scope="module")
def tc(tmp_path_factory):
    c = task_corpus(tmp_path_factory.mktemp("tex"), 11, 5)
    c.label_list = [str(c.labels), str(c.va_dir), str(c.au_dir)]
    return c


@pytest.fixture(scope="module")
def runs(tc, tmp_path_factory):
    root = tmp_path_factory.mktemp("texr")
    out = []
    for seed in (0, 1):
        cfg = config_for(tc, "lstm", data={"labels": tc.label_list, "normalize": "train"},
                         train={"epochs": 2, "seed": seed}, smooth=SMOOTH)
        experiment.train(cfg, root / f"run{seed}")
        out.append(root / f"run{seed}")
    return out


@pytest.fixture(scope="module")
def ens(tc, runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("texe") / "ens"
    return out, run_task_ensemble(runs, str(tc.store), tc.label_list, out, device="cpu")


def _training(tc, runs):
    """The oracle's training tracks: the runs' own out-of-fold probabilities, calibrated by hand."""
    train = sorted(set(RunFolder(runs[0]).read_tracks()["train"]) & set(RunFolder(runs[1]).read_tracks()["train"]))
    ys = [read_annotation(tc.labels / "Train_Set" / f"{t}.txt") for t in train]
    per = []
    for r in runs:
        cal = read_calibration(r)
        with np.load(r / "oof" / "probs.npz") as z:
            per.append([cal.calibrate(z[f"p:{t}"]) for t in train])
    return MemberTraining(train, per, ys, True, "out of fold (every member kept them)")


def test_the_expr_chain_is_fitted_on_the_members_out_of_fold_probabilities(tc, runs, ens, tmp_path):
    out, m = ens
    expr = m["per_task"]["expr"]
    assert "out of fold (every member kept them)" in expr["fitted_on"]
    assert not list(out.glob("members/*/train"))  # nothing predicted in-sample
    assert [p["kind"] for p in m["postprocess"]] == ["calibration", "viterbi"]
    tr = _training(tc, runs)
    proc, info, temp = fixed_post(spec_from_config("viterbi", "auto", "auto"),
                                  lambda: tr.combined(Combiner("mean", np.ones(2))))
    assert m["postprocess"] == json.loads(json.dumps([temp.to_dict(), proc.to_dict()]))
    assert expr["postprocess"] == m["postprocess"] and m["smooth"]["weight"] == info["weight"]
    assert m["calibration"] == [read_calibration(r).to_dict() for r in runs]
    # validation: each run's raw EXPR (exprnet predict without post-processing), calibrated, mean, the chain
    val = RunFolder(runs[0]).read_tracks()["val"]
    raw = []
    for k, r in enumerate(runs):
        predict_tasks(r, str(tc.store), val, tmp_path / f"raw{k}", device="cpu", raw=True)
        cal = read_calibration(r)
        raw.append([cal.calibrate(np.load(tmp_path / f"raw{k}" / "probs" / f"{t}.npy")) for t in val])
    dec = apply_all(proc, [np.mean(np.stack(q), 0).astype(np.float64) for q in zip(*raw, strict=True)], temp)
    y = np.concatenate([read_annotation(tc.labels / "Validation_Set" / f"{t}.txt") for t in val])
    pred = np.concatenate([d.labels for d in dec])
    assert m["val_f1"] == pytest.approx(_f1(y, pred), abs=1e-9)
    sub = read_submission(out / "submission.txt")
    for t, d in zip(val, dec, strict=True):
        np.testing.assert_allclose(np.load(out / "probs" / f"{t}.npy"), d.probs, atol=1e-5)
        np.testing.assert_array_equal(sub[t], d.labels)
    # each member as `exprnet predict` decides (its own calibration and decoder, VA width, AU thresholds)
    for k, r in enumerate(runs):
        own = predict_tasks(r, str(tc.store), val, tmp_path / f"own{k}", device="cpu", labels=tc.label_list)
        assert expr["member"][k] == pytest.approx(own["f1"], abs=1e-9)
        assert m["per_task"]["va"]["member"][k] == pytest.approx(own["va"], abs=1e-6)
        assert m["per_task"]["au"]["member"][k] == pytest.approx(own["au_f1"], abs=1e-9)
        assert own["postprocess"][-1]["kind"] == "viterbi"
    assert expr["best_member"] == max(expr["member"]) and m["best_member_f1"] == expr["best_member"]
    assert len(expr["member_raw"]) == 2 and "viterbi" in expr["decision"]


def test_validation_labels_do_not_change_the_chain(tc, runs, ens, tmp_path):
    out, m = ens
    labels = tmp_path / "expr"
    shutil.copytree(tc.labels, labels)
    rng = np.random.default_rng(0)
    for f in sorted((labels / "Validation_Set").glob("*.txt")):
        write_annotation(f, rng.integers(0, 8, len(read_annotation(f))))
    m2 = run_task_ensemble(runs, str(tc.store), [str(labels), str(tc.va_dir), str(tc.au_dir)], tmp_path / "e2",
                           device="cpu")
    for k in ("postprocess", "calibration", "smooth"):
        assert m2[k] == m[k], k
    assert m2["val_f1"] != m["val_f1"]  # the labels did change what is scored
    for f in sorted((out / "probs").glob("*.npy")):
        np.testing.assert_array_equal(np.load(tmp_path / "e2" / "probs" / f.name), np.load(f))


def test_a_bundle_of_the_runs_predicts_what_the_ensemble_scored(tc, runs, ens, tmp_path):
    out, m = ens
    path = make_task_ensemble_bundle(runs, str(tc.store), tc.label_list, tmp_path / "B", device="cpu")
    manifest = json.loads((path / "bundle.json").read_text())
    assert manifest["postprocess"] == m["postprocess"]
    assert [e["calibration"] for e in manifest["members"]] == m["calibration"]
    assert [e["val_f1"] for e in manifest["members"]] == m["per_task"]["expr"]["member"]
    val = RunFolder(runs[0]).read_tracks()["val"]
    got = Bundle.load(path).predict_outputs(str(tc.store), list(val))
    sub = read_submission(out / "submission.txt")
    for t in val:
        np.testing.assert_allclose(got[t].expr.probs, np.load(out / "probs" / f"{t}.npy"), atol=1e-5)
        np.testing.assert_array_equal(got[t].expr.labels, sub[t])
    y = np.concatenate([read_annotation(tc.labels / "Validation_Set" / f"{t}.txt") for t in val])
    f1 = _f1(y, np.concatenate([got[t].expr.labels for t in val]))
    assert json.loads((path / "metrics.json").read_text())["val_f1"] == pytest.approx(f1, abs=1e-9)
    assert m["val_f1"] == pytest.approx(f1, abs=1e-9)
    card = (path / "MODEL_CARD.md").read_text()
    assert "EXPR: each member's probabilities calibrated with its own calibration" in card
    assert "after the EXPR post-processing below" in card


def test_one_member_without_out_of_fold_probabilities_is_fitted_in_sample(tmp_path):
    """expr_training: RUN/oof/probs.npz where a member kept it, its own predictions otherwise."""
    rng = np.random.default_rng(0)
    tracks, ys = ["a", "b"], [rng.integers(0, 8, 30), rng.integers(0, 8, 40)]
    kept = {t: rng.dirichlet(np.ones(8), len(y)).astype(np.float32) for t, y in zip(tracks, ys, strict=True)}
    (tmp_path / "r0" / "oof").mkdir(parents=True)
    np.savez(tmp_path / "r0" / "oof" / "probs.npz", **{f"p:{t}": p for t, p in kept.items()})
    (tmp_path / "r1").mkdir()
    own = [rng.dirichlet(np.ones(8), len(y)).astype(np.float32) for y in ys]
    cal = Calibration(2.0)
    tr = expr_training([tmp_path / "r0", tmp_path / "r1"], tracks, ys, [None, cal],
                       lambda k: own if k == 1 else pytest.fail("member 0 kept its out-of-fold probabilities"))
    assert tr.kept == [True, False] and not tr.out_of_fold and tr.source == "in-sample for 1 of 2 members"
    np.testing.assert_array_equal(tr.per_member[0][1], kept["b"])
    np.testing.assert_allclose(tr.per_member[1][0], cal.calibrate(own[0]))


def test_a_member_config_without_expr_post_processing_keeps_the_argmax():
    """smooth.kind none: no temperature, no decoder; the calibrated mean's most probable class."""
    rng = np.random.default_rng(1)
    cals = [Calibration(0.5), None]
    chain = fit_expr_chain("none", cals,
                           lambda: pytest.fail("nothing is fitted"))
    assert chain.chain == [] and chain.to_dict()["postprocess"] == []
    p = [rng.dirichlet(np.ones(8), 50).astype(np.float32) for _ in range(2)]
    q = chain.combine(p)
    np.testing.assert_allclose(q, (cals[0].calibrate(p[0]) + p[1]) / 2, atol=1e-6)
    np.testing.assert_array_equal(chain.apply([q])[0].labels, q.argmax(1))


def test_exprnet_report_shows_each_task_beside_the_members(ens):
    from exprnet.cli import app
    from typer.testing import CliRunner

    out, m = ens
    r = CliRunner().invoke(app, ["report", str(out)])
    assert r.exit_code == 0, r.output
    text = (out / "REPORT.md").read_text()
    assert "## Ensemble beside its members (validation)" in text
    for task, key in (("EXPR", "val_f1"), ("VA", "val_va"), ("AU", "val_au_f1")):
        rec = m["per_task"][task.lower()]
        row = next(line for line in text.splitlines() if line.startswith(f"| {task} |"))
        assert f"{rec['best_member']:.4f}" in row and f"**{rec[key]:.4f}**" in row
    assert "## Action units (F1 per AU)" in text and (out / "au_f1.png").exists()
