"""`exprnet ensemble` / `exprnet bundle` by default: calibrated members averaged, decoded once with a
chain fitted out of fold on the training videos; a plain vote of labels only with --method vote."""

import json

import numpy as np
import pytest
from exprnet.cli import app
from exprnet.ensemble.evaluate import DEFAULT_METHOD
from exprnet.ensemble.oof import fit_oof_weights, grid
from exprnet.ensemble.post import DEFAULT_SMOOTH, MemberTraining, resolve_smooth
from exprnet.postprocess.decoding import parse
from typer.testing import CliRunner

runner = CliRunner()


def test_default_smoothing_follows_the_method():
    assert resolve_smooth("mean", "default") == DEFAULT_SMOOTH == "auto"
    assert resolve_smooth("weighted", "DEFAULT") == DEFAULT_SMOOTH
    assert resolve_smooth("vote", "default") == "none"
    assert resolve_smooth("vote", "box:3") == "box:3" and resolve_smooth("mean", "none") == "none"


def test_default_smoothing_keeps_the_members_own_decoder_kind(tmp_path):
    """Seeds of one recipe that all decode with viterbi: the ensemble refits viterbi; members that
    differ (or keep no decoder) leave the choice to the cross-validated ``auto``."""
    def run(name, smoothing):
        d = tmp_path / name
        d.mkdir()
        (d / "metrics.json").write_text(json.dumps({"smoothing": smoothing}))
        return d

    vit = {"kind": "viterbi", "weight": 0.5, "balance": 0.5}
    a, b = run("a", vit), run("b", vit)
    h, box, none = run("h", {"kind": "hsmm", "weight": 1.0}), run("box", {"kind": "box", "width": 4}), run("n", None)
    assert resolve_smooth("oof", "default", [a, b]) == "viterbi:auto"
    assert resolve_smooth("oof", "default", [h]) == "hsmm:auto"
    assert resolve_smooth("oof", "default", [a, h]) == resolve_smooth("oof", "default", [a, box]) == DEFAULT_SMOOTH
    assert resolve_smooth("oof", "default", [a, none]) == DEFAULT_SMOOTH
    assert resolve_smooth("vote", "default", [a, b]) == "none" and resolve_smooth("oof", "box:3", [a, b]) == "box:3"


def _training(out_of_fold: bool) -> MemberTraining:
    """A member right on every frame (0.65 on the true class) and one as sure of the next class:
    their mix is right exactly where the first weighs more than a half (worked out by hand)."""
    rng = np.random.default_rng(0)
    labels, good, bad = [], [], []
    for _ in range(6):
        y = np.repeat(rng.integers(0, 8, 12), rng.integers(5, 30, 12))
        g, b = np.full((len(y), 8), 0.05), np.full((len(y), 8), 0.05)
        g[np.arange(len(y)), y] = 0.65
        b[np.arange(len(y)), (y + 1) % 8] = 0.65
        labels.append(y)
        good.append(g)
        bad.append(b)
    return MemberTraining([f"v{i}" for i in range(6)], [good, bad], labels, out_of_fold, "test")


def test_oof_weights_follow_what_each_member_earned_out_of_fold():
    assert grid(2).shape == (21, 2) and np.allclose(grid(3).sum(1), 1) and len(grid(3)) <= 21
    w, info = fit_oof_weights(_training(True), parse("none"))
    # per frame, every weight above a half is perfect; the tie goes to the one nearest equal weights
    assert w == pytest.approx([0.55, 0.45]) and info["oof_f1"] == pytest.approx(1.0)
    assert info["oof_f1_by_weights"]["0.5,0.5"] < 1.0 and info["oof_f1_by_weights"]["0,1"] < 0.1
    w, info = fit_oof_weights(_training(True), parse("viterbi:auto"))  # scored by the decoder's CV F1
    assert w[0] > 0.5 and info["oof_f1"] == max(info["oof_f1_by_weights"].values())
    assert info["oof_f1_by_weights"]["0,1"] < 0.1 < info["oof_f1"]
    w, info = fit_oof_weights(_training(False), parse("viterbi:auto"))
    assert w == pytest.approx([0.5, 0.5]) and info["chosen_on"].startswith("equal weights")


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
    # members calibrated, weighted, the combination's own temperature, then the decoder
    assert m["method"] == DEFAULT_METHOD == "oof" and m["postprocess"][0]["kind"] == "calibration"
    # the decoder kind with the best cross-validated F1 on the training tracks
    cv = m["smooth"]["cv_f1_by_kind"]
    assert set(cv) == {"viterbi", "hsmm"} and m["postprocess"][1]["kind"] == max(cv, key=cv.get)
    assert m["smooth"]["calibration"]["train_ece_after"] <= m["smooth"]["calibration"]["train_ece_before"]
    assert 0 <= m["val_ece_after"] <= 1
    assert m["weights_chosen"]["chosen_on"] == "training tracks, out of fold" and len(m["weights"]) == 2
    assert m["weights_chosen"]["oof_f1"] == max(m["weights_chosen"]["oof_f1_by_weights"].values())
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


def test_a_member_without_out_of_fold_probabilities_gets_weight_0(small, baselines):
    """Two baselines kept out-of-fold probabilities, a network (smooth.folds 0) none: the weights are
    chosen among the two exactly as an ensemble of those two alone chooses them, the network gets 0,
    and the bundle's metrics and card name it and say why."""
    from exprnet.training import experiment

    from .conftest import config_for

    root, runs = baselines
    net = root / "net"
    if not net.exists():
        experiment.train(config_for(small, "lstm", train={"epochs": 1}), net)
    assert not (net / "oof" / "probs.npz").exists()
    two = root / "two"
    r = runner.invoke(app, ["ensemble", *map(str, runs), "--store", str(small.store), "--labels", str(small.labels),
                            "--out", str(two)])
    assert r.exit_code == 0, r.output
    ref = json.loads((two / "metrics.json").read_text())
    b = root / "bundle3"
    r = runner.invoke(app, ["bundle", *map(str, runs), str(net), "--store", str(small.store), "--labels",
                            str(small.labels), "--out", str(b), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    m = json.loads((b / "metrics.json").read_text())
    w = np.asarray(m["weights"]) / sum(m["weights"])
    assert w[2] == 0 and w[:2] == pytest.approx(np.asarray(ref["weights"]) / sum(ref["weights"]))
    ch = m["weights_chosen"]
    assert ch["oof_f1"] == pytest.approx(ref["weights_chosen"]["oof_f1"])
    assert "among the 2 members" in ch["chosen_on"] and list(ch["left_out"]) == ["net"]
    assert "out-of-fold" in ch["left_out"]["net"]
    # every weighted member's training probabilities were out of fold: so is the decoder's fit
    assert m["smooth"]["probabilities"].startswith("out of fold")
    manifest = json.loads((b / "bundle.json").read_text())
    assert manifest["combination"]["weights"][2] == 0
    card = (b / "MODEL_CARD.md").read_text()
    assert "- net left out: weight 0: kept no out-of-fold" in card
