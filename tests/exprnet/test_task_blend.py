"""``smooth.baseline: auto`` on VA/AU runs: each head blended with its task baseline (ridge / per-AU
logistic regression on the run's inputs), the weight chosen out of fold. Oracles: the task
baselines' own fits (sklearn) on the run's builder rows, the plain network's outputs, the
post-processing refitted by hand on the kept out-of-fold outputs; the choice does not move when
the validation labels are replaced."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from exprnet.baseline.fit import make_builder
from exprnet.data.bank import Standardizer
from exprnet.data.batches import flag_columns, input_dim
from exprnet.deploy.bundle import Bundle
from exprnet.deploy.make_tasks import make_task_bundle
from exprnet.models.blend import BLEND_FILE, RunBlend, build_network, read_blend
from exprnet.prediction.predict import track_probs
from exprnet.prediction.tasks import predict_tasks
from exprnet.reports.progress import NullReporter
from exprnet.tasks.baselines import AULogistic, VARidge
from exprnet.tasks.post import AUPost, VAPost, fit_au_post, fit_va_post
from exprnet.training import experiment
from exprnet.training.experiment import prepare
from exprnet.training.runfolder import RunFolder
from exprnet.training.task_blend import blend_score
from featurizer.core.annotations import write_au_annotation

from .conftest import config_for
from .test_tasks_oof import task_corpus

SMOOTH = {"kind": "none", "calibrate": "none", "folds": 2, "baseline": "auto"}


@pytest.fixture(scope="module")
def tc(tmp_path_factory):
    return task_corpus(tmp_path_factory.mktemp("tb"), 5, 2)


def _cfg(c, labels):
    return config_for(c, "mlp", data={"labels": [str(x) for x in labels]}, train={"epochs": 2}, smooth=SMOOTH)


@pytest.fixture(scope="module")
def au_run(tc, tmp_path_factory):
    out = tmp_path_factory.mktemp("tbr") / "au"
    experiment.train(_cfg(tc, [tc.au_dir]), out)
    return out


def _bank(run):
    cfg = RunFolder(run).read_config().resolved()
    prep = prepare(cfg)
    return cfg, prep, make_builder(cfg, prep.bank, Standardizer.load(RunFolder(run).stats))


def _outputs(run, blend, bank):
    """Every track's outputs of the run's best network with ``blend`` (None: the network alone)."""
    rf = RunFolder(run)
    cfg, ckpt = rf.read_config().resolved(), rf.load("best")
    width = input_dim(bank.dim, len(flag_columns(bank, cfg.data.present_flags)))
    net = build_network(width, cfg.model, list(ckpt["tasks"]), ckpt["model"], blend)
    return track_probs(net, bank, Standardizer.load(rf.stats), cfg, torch.device("cpu"), NullReporter())


def test_the_au_run_keeps_its_blend_chosen_out_of_fold(au_run):
    blend = read_blend(au_run)
    assert isinstance(blend, RunBlend) and blend.expr is None and set(blend.tasks) == {"au"}
    with np.load(au_run / "checkpoints" / BLEND_FILE, allow_pickle=False) as z:
        assert set(z.files) == {"au.network_weight", "au.coef", "au.intercept"}
    rec = json.loads((au_run / "task_post.json").read_text())
    grid = rec["blend"]["au"]["oof_score_by_weight"]
    assert list(grid) == [f"{k / 10:g}" for k in range(11)]
    best = max(grid.values())
    w = max(float(k) for k, v in grid.items() if v >= best - 1e-12)  # ties: the larger network weight
    assert blend.tasks["au"].network_weight == pytest.approx(w)
    with np.load(au_run / "oof" / "network_tasks.npz") as z:
        net = {k: z[k] for k in z.files}
    with np.load(au_run / "oof" / "tasks.npz") as z:
        mixed = {k: z[k] for k in z.files}
    assert set(net) == set(mixed)
    tracks = sorted(k[3:] for k in net if k.startswith("au:"))
    trues = [net[f"yau:{t}"] for t in tracks]
    # the network alone's score (w = 1) recomputed from its out-of-fold outputs
    assert grid["1"] == pytest.approx(blend_score("au", [net[f"au:{t}"] for t in tracks], trues))
    # what the run fitted its thresholds on: the chosen blend's out-of-fold outputs
    au = fit_au_post([mixed[f"au:{t}"] for t in tracks], trues)
    got = AUPost.from_dict(rec["au"])
    np.testing.assert_array_equal(got.thresholds, au.thresholds)
    np.testing.assert_array_equal(got.widths, au.widths)
    m = json.loads((au_run / "metrics.json").read_text())
    assert "val_au_f1_post" in m and "val_au_f1_network" in m and m["task_post"]["blend"]["au"]["network_weight"] == w


def test_the_partner_is_the_au_baseline_fitted_on_the_runs_inputs(au_run):
    cfg, prep, builder = _bank(au_run)
    train = RunFolder(au_run).read_tracks()["train"]
    bank = prep.bank
    xs = [builder.inputs(bank.index(t)) for t in train]
    ys = [bank.targets["au"][bank.rows(bank.index(t))] for t in train]
    ref = AULogistic.fit(xs, ys, max_frames=200_000, seed=cfg.train.seed)  # sklearn, fitted here
    b = read_blend(au_run).tasks["au"]
    x = builder.inputs(bank.ids(prep.split.val)[0])
    np.testing.assert_allclose(b.partner(x), ref.predict_proba(x), atol=1e-5)


@pytest.mark.parametrize("w", [0.0, 1.0, 0.3])
def test_the_ends_of_the_grid_and_a_weight_inside_are_the_blend_by_hand(au_run, w):
    cfg, prep, builder = _bank(au_run)
    blend = read_blend(au_run)
    end = RunBlend(None, {"au": dataclasses.replace(blend.tasks["au"], network_weight=w)})
    got = _outputs(au_run, end, prep.bank)
    plain = _outputs(au_run, None, prep.bank)
    for i in prep.bank.ids(prep.split.val):
        base = end.tasks["au"].partner(builder.inputs(i))
        np.testing.assert_allclose(got[i], w * plain[i] + (1 - w) * base, atol=2e-5)


def test_predict_and_a_bundle_of_a_blended_au_run_give_the_blend_by_hand(tc, au_run, tmp_path):
    cfg, prep, builder = _bank(au_run)
    val = list(prep.split.val)
    b = read_blend(au_run).tasks["au"]
    plain = _outputs(au_run, None, prep.bank)
    raw = tmp_path / "raw"
    predict_tasks(au_run, str(tc.store), val, raw, device="cpu", raw=True)
    for t in val:
        i = prep.bank.index(t)
        want = b.network_weight * plain[i] + (1 - b.network_weight) * b.partner(builder.inputs(i))
        np.testing.assert_allclose(np.load(raw / "au" / f"{t}.npy"), want, atol=2e-5)
    out = tmp_path / "p"
    s = predict_tasks(au_run, str(tc.store), val, out, labels=[str(tc.au_dir)], device="cpu")
    m = json.loads((au_run / "metrics.json").read_text())
    assert s["au_f1"] == pytest.approx(m["val_au_f1_post"], abs=1e-5)
    bundle = make_task_bundle([au_run], str(tc.store), [str(tc.au_dir)], tmp_path / "b", device="cpu")
    got = Bundle.load(bundle).predict_outputs(str(tc.store), val)
    for t in val:
        np.testing.assert_allclose(got[t].au_probs, np.load(out / "au" / f"{t}.npy"), atol=1e-5)


def test_the_weight_is_blind_to_validation_labels(tc, au_run, tmp_path):
    root = tmp_path / "other"
    shutil.copytree(tc.au_dir, root / "AU_Set")
    rng = np.random.default_rng(9)
    for t, split in tc.tracks.items():
        if split == "Validation_Set":
            n = len(tc.label_arrays[t])
            write_au_annotation(root / "AU_Set" / split / f"{t}.txt", (rng.random((n, 12)) < 0.5).astype(np.int8))
    out = tmp_path / "run"
    experiment.train(_cfg(tc, [root / "AU_Set"]), out)
    a, b = (json.loads((r / "task_post.json").read_text()) for r in (au_run, out))
    assert a["blend"] == b["blend"] and a["au"] == b["au"]
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (au_run, out))
    assert ma["val_au_f1_post"] != mb["val_au_f1_post"]


def test_a_va_run_blends_its_values_with_the_ridge(tc, tmp_path):
    out = tmp_path / "va"
    experiment.train(_cfg(tc, [tc.va_dir]), out)
    blend = read_blend(out)
    assert set(blend.tasks) == {"va"} and 0 <= blend.tasks["va"].network_weight <= 1
    cfg, prep, builder = _bank(out)
    bank, train = prep.bank, RunFolder(out).read_tracks()["train"]
    xs = [builder.inputs(bank.index(t)) for t in train]
    ref = VARidge.fit(xs, [bank.targets["va"][bank.rows(bank.index(t))] for t in train], max_frames=200_000,
                      seed=cfg.train.seed)
    plain = _outputs(out, None, bank)
    got = _outputs(out, blend, bank)
    w = blend.tasks["va"].network_weight
    for i in bank.ids(prep.split.val):
        x = builder.inputs(i)
        np.testing.assert_allclose(blend.tasks["va"].partner(x), ref.predict(x), atol=1e-4)
        np.testing.assert_allclose(got[i], w * plain[i] + (1 - w) * ref.predict(x), atol=1e-4)
    rec = json.loads((out / "task_post.json").read_text())
    with np.load(out / "oof" / "tasks.npz") as z:
        tracks = sorted(k[3:] for k in z.files if k.startswith("va:"))
        va = fit_va_post([z[f"va:{t}"] for t in tracks], [z[f"yva:{t}"] for t in tracks])
    assert VAPost.from_dict(rec["va"]).width == va.width


def test_exprnet_train_says_each_heads_weight(tc, tmp_path):
    from exprnet.cli import app
    from typer.testing import CliRunner

    out = tmp_path / "run"
    r = CliRunner().invoke(app, [
        "train", "--store", str(tc.store), "--labels", str(tc.au_dir), "--features", ",".join(tc.features),
        "--encoder", "mlp", "--out", str(out), "--epochs", "1", "--d-model", "16", "--hidden", "16",
        "--device", "cpu", "--no-baseline", "--set", "model.head=[16]", "--set", "smooth.kind=none",
        "--set", "smooth.calibrate=none", "--set", "smooth.folds=2", "--set", "smooth.baseline=auto"])
    assert r.exit_code == 0, r.output
    b = json.loads((out / "metrics.json").read_text())["task_post"]["blend"]["au"]
    said = " ".join(r.output.split())
    assert f"AU blended with its baseline (logreg): network weight {b['network_weight']:g}" in said
    assert f"network alone {b['network_oof']:.4f}, baseline alone {b['baseline_oof']:.4f}" in said


def test_a_bundle_member_of_a_blended_au_run_gives_the_blend_offline_and_live(tc, au_run, tmp_path):
    """A copy of the run blended at 0.5 (both sides count): the bundle member's rows, offline and
    through live's incremental runner (at the last frame, where its track moments are the
    track's), equal the blend by hand."""
    from exprnet.deploy.live.members import runner_for

    run = tmp_path / "run"
    shutil.copytree(au_run, run)
    b = dataclasses.replace(read_blend(run).tasks["au"], network_weight=0.5)
    RunBlend(None, {"au": b}).save(run / "checkpoints" / BLEND_FILE)
    cfg, prep, builder = _bank(run)
    plain = _outputs(run, None, prep.bank)
    path = make_task_bundle([run], str(tc.store), [str(tc.au_dir)], tmp_path / "B", device="cpu")
    member = Bundle.load(path).members[0]
    assert member.lr.blend.tasks["au"].network_weight == 0.5
    got = member.predictor.probs(prep.bank)
    i = prep.bank.ids(prep.split.val)[0]
    want = 0.5 * plain[i] + 0.5 * b.partner(builder.inputs(i))
    np.testing.assert_allclose(got[i], want, atol=2e-5)
    runner = runner_for(member, list(prep.bank.modalities), set())
    r = prep.bank.rows(i)
    live = np.concatenate([runner.push(prep.bank.values[r], prep.bank.present[r]), runner.close()])
    assert live.shape == want.shape
    # data.normalize: track standardises with the moments so far: the last frame's equal the track's
    np.testing.assert_allclose(live[-1], want[-1], atol=2e-5)


def test_a_va_and_au_run_blends_both_heads_and_a_refit_without_drops_the_blend(tc, tmp_path):
    from exprnet.training.task_post import drop_stale_tasks

    out = tmp_path / "both"
    experiment.train(_cfg(tc, [tc.va_dir, tc.au_dir]), out)
    blend = read_blend(out)
    assert set(blend.tasks) == {"va", "au"}
    assert set(json.loads((out / "task_post.json").read_text())["blend"]) == {"va", "au"}
    cfg, prep, builder = _bank(out)
    plain, got = _outputs(out, None, prep.bank), _outputs(out, blend, prep.bank)
    i = prep.bank.ids(prep.split.val)[0]
    x = builder.inputs(i)
    for t, s in (("va", slice(0, 2)), ("au", slice(2, 14))):
        w = blend.tasks[t].network_weight
        np.testing.assert_allclose(got[i][:, s], w * plain[i][:, s] + (1 - w) * blend.tasks[t].partner(x), atol=2e-5)
    with np.load(out / "oof" / "network_tasks.npz") as z:
        net = {k: z[k] for k in z.files}
    drop_stale_tasks(out)  # what a refit with smooth.baseline: none does first
    assert read_blend(out) is None and not (out / "oof" / "network_tasks.npz").exists()
    with np.load(out / "oof" / "tasks.npz") as z:
        assert set(z.files) == set(net)
        for k in net:  # (VA labels hold NaN: assert_array_equal takes NaN as equal)
            np.testing.assert_array_equal(z[k], net[k])


def test_a_three_task_run_blends_every_head_and_keeps_them_in_one_file(tc, tmp_path):
    """EXPR beside VA and AU: EXPR's logistic-regression blend (tempered probabilities) and each
    head's task blend, saved together; the run predicts all three blends, and keeps the network's
    out-of-fold outputs beside the blend's."""
    out = tmp_path / "all"
    smooth = {"kind": "viterbi", "weight": "auto", "calibrate": "auto", "folds": 2, "baseline": "auto"}
    experiment.train(config_for(tc, "mlp", data={"labels": [str(tc.labels), str(tc.va_dir), str(tc.au_dir)]},
                                train={"epochs": 2}, smooth=smooth), out)
    blend = read_blend(out)
    assert isinstance(blend, RunBlend) and blend.expr is not None and set(blend.tasks) == {"va", "au"}
    m = json.loads((out / "metrics.json").read_text())
    assert m["smoothing"]["blend"]["network_weight"] == pytest.approx(blend.expr.network_weight)
    assert set(m["task_post"]["blend"]) == {"va", "au"} and "val_f1_network" in m["smoothing"]
    for mine, net in (("probs.npz", "network.npz"), ("tasks.npz", "network_tasks.npz")):
        with np.load(out / "oof" / mine) as a, np.load(out / "oof" / net) as b:
            assert set(a.files) == set(b.files)
    cfg, prep, builder = _bank(out)
    plain, got = _outputs(out, None, prep.bank), _outputs(out, blend, prep.bank)
    slices = build_network(builder.input_dim, cfg.model, ["expr", "va", "au"],
                           RunFolder(out).load("best")["model"], None).slices
    i = prep.bank.ids(prep.split.val)[0]
    x = builder.inputs(i)
    e = slices["expr"]
    np.testing.assert_allclose(got[i][:, e], blend.expr.mix(plain[i][:, e], blend.expr.base_probs(x)), atol=1e-4)
    for t in ("va", "au"):
        w, s = blend.tasks[t].network_weight, slices[t]
        np.testing.assert_allclose(got[i][:, s], w * plain[i][:, s] + (1 - w) * blend.tasks[t].partner(x), atol=2e-5)
