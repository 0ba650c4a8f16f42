"""``smooth.baseline: auto``: a network blended with the logistic-regression baseline, the weight
chosen out of fold. Oracles: the baseline's own FrameClassifier (sklearn-fitted) and Calibration
on the plain network's probabilities; the weight choice does not move when every validation label
is scrambled; predict, bundles and live's StepRunner give the blend computed by hand."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from exprnet.baseline.classifier import FrameClassifier
from exprnet.baseline.fit import fit_classifier, make_builder
from exprnet.config import BaselineConfig, build_config
from exprnet.data.bank import Standardizer
from exprnet.deploy.bundle import Bundle
from exprnet.deploy.live.members import runner_for
from exprnet.deploy.make import make_bundle
from exprnet.errors import ConfigError
from exprnet.models import build_model
from exprnet.models.blend import BLEND_FILE, BlendedNet, attach, read_blend
from exprnet.postprocess.calibration import Calibration
from exprnet.prediction.predict import Predictor, load_run, predict, track_probs
from exprnet.reports.progress import NullReporter
from exprnet.training import experiment
from exprnet.training.experiment import execute, prepare
from exprnet.training.postfit import fit_after_training
from exprnet.training.runfolder import RunFolder

from .conftest import config_for

SMOOTH = {"kind": "viterbi", "weight": "auto", "calibrate": "auto", "folds": 2, "baseline": "auto"}


@pytest.fixture(scope="module")
def blended(small, tmp_path_factory):
    """A blended LSTM run on the small corpus (2 out-of-fold sub-runs); training-set statistics, so
    live rows equal offline ones from the first frame (``track``: at the last, tests/e2e/test_live.py)."""
    out = tmp_path_factory.mktemp("blend") / "run"
    cfg = config_for(small, "lstm", train={"epochs": 2}, smooth=SMOOTH, data={"normalize": "train"})
    res = experiment.train(cfg, out)
    return out, res


def _plain(run, prep, ids):
    """The plain network's probabilities (no blend) and the run's builder."""
    lr = load_run(run)
    return Predictor(dataclasses.replace(lr, blend=None), "cpu").probs(prep.bank), make_builder(lr.cfg, prep.bank, lr.stats)


def test_auto_needs_out_of_fold_sub_runs(small):
    with pytest.raises(ConfigError) as e:
        config_for(small, smooth={"kind": "viterbi", "baseline": "auto"})
    assert "folds >= 2" in str(e.value) and "\n" not in str(e.value)
    assert build_config({}).smooth.baseline == "none"


def test_the_run_records_the_choice_and_keeps_the_blend(blended):
    run, res = blended
    sm = res.smoothing
    rec = sm["blend"]
    grid = [f"{k / 10:g}" for k in range(11)]
    assert list(rec["oof_f1_by_weight"]) == grid
    best = max(rec["oof_f1_by_weight"].values())
    w = max(float(k) for k, v in rec["oof_f1_by_weight"].items() if v >= best - 1e-12)  # ties: larger w
    assert rec["network_weight"] == pytest.approx(w)
    assert rec["network_oof_f1"] == rec["oof_f1_by_weight"]["1"] and rec["baseline_oof_f1"] == rec["oof_f1_by_weight"]["0"]
    assert 0 <= sm["val_f1_network"] <= 1 and 0 <= sm["val_f1"] <= 1 and 0 <= sm["val_ece_after"] <= 1
    blend = read_blend(run)
    assert blend is not None and blend.network_weight == pytest.approx(w)
    with np.load(run / "checkpoints" / BLEND_FILE, allow_pickle=False) as z:  # no pickle
        assert {"network_weight", "net_temperature", "base_temperature", "classes", "w0", "b0"} <= set(z.files)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["smoothing"]["blend"]["network_weight"] == pytest.approx(w)
    assert (run / "oof" / "network.npz").exists() and (run / "oof" / "probs.npz").exists()


def test_the_partner_is_the_baseline_classifier_fitted_on_the_runs_inputs(blended):
    run, _ = blended
    lr = load_run(run)
    prep = prepare(lr.cfg)
    builder = make_builder(lr.cfg, prep.bank, lr.stats)
    tids = prep.bank.ids(RunFolder(run).read_tracks()["train"])
    clf = fit_classifier(BaselineConfig(), builder, tids, lr.cfg.train.seed, 1)  # sklearn, fitted here
    x = builder.inputs(prep.bank.ids(prep.split.val)[0])
    np.testing.assert_allclose(lr.blend.base_probs(x), clf.predict_proba(x), atol=1e-5)


@pytest.mark.parametrize("w", [0.0, 1.0])
def test_the_ends_of_the_grid_are_the_calibrated_baseline_and_network(blended, w):
    run, _ = blended
    lr = load_run(run)
    prep = prepare(lr.cfg)
    vids = prep.bank.ids(prep.split.val)
    plain, builder = _plain(run, prep, vids)
    end = dataclasses.replace(lr.blend, network_weight=w)
    got = Predictor(dataclasses.replace(lr, blend=end), "cpu").probs(prep.bank)
    b = lr.blend
    clf = FrameClassifier("logreg", b.classes, [b.weight], [b.bias])
    for i in vids:
        if w == 0.0:
            want = Calibration(b.base_temperature).calibrate(clf.predict_proba(builder.inputs(i)))
        else:
            want = Calibration(b.net_temperature).calibrate(plain[i])
        np.testing.assert_allclose(got[i], want, atol=2e-5)


@pytest.mark.parametrize("w", [None, 0.3])
def test_predict_on_a_blended_run_is_the_blend_by_hand(blended, small, tmp_path, w):
    """``None``: the weight the run chose; 0.3: one inside the grid (both sides matter)."""
    run, res = blended
    lr = load_run(run)
    if w is not None:
        lr = dataclasses.replace(lr, blend=dataclasses.replace(lr.blend, network_weight=w))
    prep = prepare(lr.cfg)
    vids = prep.bank.ids(prep.split.val)
    plain, builder = _plain(run, prep, vids)
    got = Predictor(lr, "cpu").probs(prep.bank)
    b = lr.blend
    clf = FrameClassifier("logreg", b.classes, [b.weight], [b.bias])
    for i in vids:
        net = Calibration(b.net_temperature).calibrate(plain[i])
        base = Calibration(b.base_temperature).calibrate(clf.predict_proba(builder.inputs(i)))
        np.testing.assert_allclose(got[i], b.network_weight * net + (1 - b.network_weight) * base, atol=2e-5)
    if w is None:
        out = predict(run, str(small.store), prep.split.val, tmp_path / "pred", labels_dir=str(small.labels))
        assert out["f1"] == pytest.approx(res.smoothing["val_f1"], abs=1e-9)  # the run's chain on the blend


def test_the_module_keeps_the_networks_signature_and_state(blended):
    """The stateful LSTM walked in two halves with its state carried equals one pass."""
    run, _ = blended
    lr = load_run(run)
    prep = prepare(lr.cfg)
    x = torch.from_numpy(make_builder(lr.cfg, prep.bank, lr.stats).inputs(0)[None, :60])
    net = build_model(x.shape[-1], lr.cfg.model)
    net.load_state_dict(lr.state)
    model = attach(net.eval(), lr.blend)
    assert isinstance(model, BlendedNet) and model.stateful and model.n_outputs == 8 and model.slices == net.slices
    mask, reset = torch.ones(1, 60, dtype=torch.bool), torch.ones(1, dtype=torch.bool)
    with torch.no_grad():
        whole, _ = model(x, mask, None, reset)
        a, state = model(x[:, :30], mask[:, :30], None, reset)
        b, _ = model(x[:, 30:], mask[:, 30:], state, ~reset)
        p = model.to_probs(whole)
    np.testing.assert_allclose(torch.cat([a, b], 1).numpy(), whole.numpy(), atol=1e-5)
    assert p.shape == (1, 60, 8) and torch.allclose(p.sum(-1), torch.ones(1, 60), atol=1e-5)


def _refitter(run, cfg):
    """fit_after_training on the run's best checkpoint (its sub-runs' predictions cached)."""
    prep = prepare(cfg)
    bank = prep.bank
    tids, vids = bank.ids(prep.split.train), bank.ids(prep.split.val)
    lr = load_run(run)
    m = Predictor(dataclasses.replace(lr, blend=None), "cpu").model(bank)[0]
    stats = Standardizer.load(RunFolder(run).stats)

    def probs(ids, name):
        got = track_probs(m, bank, stats, cfg, torch.device("cpu"), NullReporter())
        return {i: got[i] for i in ids}

    return bank, vids, lambda c: fit_after_training(c, bank, tids, vids, probs, {}, run, NullReporter(), execute)


def test_the_weight_is_chosen_blind_to_the_validation_labels(blended):
    run, res = blended
    cfg = RunFolder(run).read_config().resolved()
    bank, vids, refit = _refitter(run, cfg)
    first = refit(cfg)
    for i in vids:  # scramble every validation label
        r = bank.rows(i)
        bank.labels[r] = np.random.default_rng(i).integers(-1, 8, r.stop - r.start)
    second = refit(cfg)
    assert first["blend"] == second["blend"] == res.smoothing["blend"]
    assert first["calibration"]["temperature"] == second["calibration"]["temperature"]
    assert first["val_f1"] != second["val_f1"]  # the scores did read the scrambled labels


def test_refitting_without_the_blend_restores_the_network(blended, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(blended[0], run)
    with np.load(run / "oof" / "network.npz") as z:
        net = {k: z[k] for k in z.files}
    cfg = RunFolder(run).read_config().resolved()
    cfg.smooth.baseline = "none"
    rec = _refitter(run, cfg)[2](cfg)
    assert "blend" not in rec and read_blend(run) is None and not (run / "oof" / "network.npz").exists()
    with np.load(run / "oof" / "probs.npz") as z:
        assert set(z.files) == set(net) and all(np.array_equal(z[k], net[k]) for k in net)
    assert rec["val_f1"] == pytest.approx(blended[1].smoothing["val_f1_network"], abs=1e-9)


def test_a_bundle_of_a_blended_run_predicts_the_blend_offline_and_live(blended, small, tmp_path):
    """A copy of the run blended at 0.5 (so the LSTM's state and the regression both count)."""
    run = tmp_path / "run"
    shutil.copytree(blended[0], run)
    dataclasses.replace(read_blend(run), network_weight=0.5).save(run / "checkpoints" / BLEND_FILE)
    lr = load_run(run)
    assert lr.blend.network_weight == 0.5
    prep = prepare(lr.cfg)
    path = make_bundle([run], "mean", str(small.store), str(small.labels), tmp_path / "B", smooth="none", device="cpu")
    manifest = json.loads((path / "bundle.json").read_text())
    assert manifest["members"][0]["blend"] == "blend.safetensors"
    b = Bundle.load(path)
    member = b.members[0]
    assert member.lr.blend is not None and member.lr.blend.network_weight == lr.blend.network_weight
    want = Predictor(lr, "cpu").probs(prep.bank)
    got = member.predictor.probs(prep.bank)
    for i in range(len(prep.bank.tracks)):
        np.testing.assert_allclose(got[i], want[i], atol=1e-6)
    # live: the stateful LSTM one frame at a time equals the member offline (its calibration after)
    i = prep.bank.ids(prep.split.val)[0]
    runner = runner_for(member, list(prep.bank.modalities), set())
    r = prep.bank.rows(i)
    live = np.concatenate([runner.push(prep.bank.values[r], prep.bank.present[r]), runner.close()])
    offline = member.calibration.apply(want[i]).probs if member.calibration is not None else want[i]
    np.testing.assert_allclose(live, offline, atol=1e-5)


def test_exprnet_train_says_the_weight_and_both_scores(small, tmp_path):
    """A windowed encoder (BiLSTM) blended through the CLI; its summary names the weight and both F1s."""
    from exprnet.cli import app
    from typer.testing import CliRunner

    out = tmp_path / "run"
    r = CliRunner().invoke(app, [
        "train", "--store", str(small.store), "--labels", str(small.labels), "--features", "vis,aud",
        "--encoder", "bilstm", "--out", str(out), "--epochs", "1", "--segment", "16", "--d-model", "16",
        "--hidden", "16", "--device", "cpu", "--no-baseline", "--set", "model.head=[16]",
        "--set", "smooth.kind=viterbi", "--set", "smooth.folds=2", "--set", "smooth.baseline=auto"])
    assert r.exit_code == 0, r.output
    sm = json.loads((out / "metrics.json").read_text())["smoothing"]
    assert f"network weight {sm['blend']['network_weight']:g} (out of fold)" in " ".join(r.output.split())
    assert f"network alone {sm['val_f1_network']:.4f}" in " ".join(r.output.split())
    # the windowed encoder's blend through predict equals the blend by hand (as the LSTM's above)
    lr = load_run(out)
    prep = prepare(lr.cfg)
    plain, builder = _plain(out, prep, None)
    got = Predictor(lr, "cpu").probs(prep.bank)
    b = lr.blend
    for i in prep.bank.ids(prep.split.val):
        want = b.mix(plain[i], b.base_probs(builder.inputs(i)))
        np.testing.assert_allclose(got[i], want, atol=2e-5)
