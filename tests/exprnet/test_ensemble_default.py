"""`exprnet ensemble` / `exprnet bundle` by default: calibrated members averaged, decoded once with a
chain fitted out of fold on the training videos; a plain vote of labels only with --method vote."""

import json

import pytest
from exprnet.cli import app
from exprnet.ensemble.evaluate import DEFAULT_SMOOTH, resolve_smooth
from typer.testing import CliRunner

runner = CliRunner()


def test_default_smoothing_follows_the_method():
    assert resolve_smooth("mean", "default") == DEFAULT_SMOOTH == "viterbi:auto"
    assert resolve_smooth("weighted", "DEFAULT") == DEFAULT_SMOOTH
    assert resolve_smooth("vote", "default") == "none"
    assert resolve_smooth("vote", "box:3") == "box:3" and resolve_smooth("mean", "none") == "none"


@pytest.fixture(scope="module")
def baselines(small, tmp_path_factory):
    root = tmp_path_factory.mktemp("ens-default")
    runs = []
    for clf, smooth in (("logreg", "hsmm:auto"), ("mlp", "viterbi:auto")):
        out = root / clf
        r = runner.invoke(app, ["baseline", "--store", str(small.store), "--labels", str(small.labels),
                                "--features", ",".join(small.features), "--classifier", clf, "--out", str(out),
                                "--smooth", smooth])
        assert r.exit_code == 0, r.output
        runs.append(out)
    return root, runs


def test_default_ensemble_decodes_once_out_of_fold(small, baselines):
    root, runs = baselines
    out = root / "ens"
    r = runner.invoke(app, ["ensemble", *map(str, runs), "--store", str(small.store), "--labels", str(small.labels),
                            "--out", str(out)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["method"] == "mean" and [d["kind"] for d in m["postprocess"]] == ["viterbi"]
    assert m["smooth"]["probabilities"] == "out of fold (every member kept them)"
    assert m["smooth"]["chosen_on"].startswith("training tracks")
    assert not m["fit_on_validation"] and m["val_f1_cv"] == m["val_f1"]
    # each member's own post-processing re-applied gives exactly the F1 its run reported
    for mem, run in zip(m["members"], runs, strict=True):
        own = json.loads((run / "metrics.json").read_text())
        assert mem["val_f1_decoded"] == pytest.approx(own["val_f1_smoothed"], abs=1e-9)
        assert mem["postprocess"]["kind"] == own["smoothing"]["kind"]
    assert m["best_member_f1_decoded"] == max(x["val_f1_decoded"] for x in m["members"])
    assert "own post-processing" in r.output and f"{m['val_f1']:.4f}" in r.output


def test_vote_is_a_plain_vote_of_labels(small, baselines):
    root, runs = baselines
    out = root / "vote"
    r = runner.invoke(app, ["ensemble", *map(str, runs), "--method", "vote", "--store", str(small.store),
                            "--labels", str(small.labels), "--out", str(out)])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["method"] == "vote" and m["postprocess"] == [] and m["smooth"] is None
