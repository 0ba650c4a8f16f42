"""Multi-task runs: --labels per task, targets and masks through bank and batches, one head per
task, masked per-task losses, per-task validation scores in metrics.json."""

import json

import numpy as np
import pytest
import torch
from exprnet.cli import app
from exprnet.config import build_config
from exprnet.data.bank import Standardizer
from exprnet.data.batches import Batch, BatchBuilder
from exprnet.data.segments import Segment
from exprnet.data.tasks import find_task_files
from exprnet.errors import DataError, LabelError
from exprnet.models import build_model
from exprnet.tasks.losses import au_loss, va_loss
from exprnet.tasks.metrics import au_scores, va_scores
from exprnet.tasks.post import AUPost
from exprnet.tasks.submission import read_au_submission, read_va_submission
from exprnet.training import experiment
from exprnet.training.experiment import prepare
from exprnet.training.multitask import MultiTaskLoss
from exprnet.training.trainer import Trainer
from featurizer.core.annotations import read_labels, write_au_annotation, write_va_annotation
from typer.testing import CliRunner

from .conftest import config_for
from .synth import make_corpus

# per expression class: (valence, arousal) and the AUs on, so the features carry both
VA = np.array([[0, -0.1], [-0.8, 0.5], [-0.8, 0], [-0.6, 0.9], [0.9, 0.2], [-0.9, -0.4], [-0.1, 0.95], [0.3, 0.7]],
              np.float32)
AU = (np.random.default_rng(0).random((8, 12)) < 0.35).astype(np.int8)


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """A small corpus with EXPR on every track, VA on all but two, AU on all but two others."""
    c = make_corpus(tmp_path_factory.mktemp("three"), n_train=6, n_val=2, frames=(120, 220), seed=3)
    names = sorted(c.tracks)
    rng = np.random.default_rng(1)
    for t, split in sorted(c.tracks.items()):
        lab = c.label_arrays[t]
        shown = np.where(lab >= 0, lab, 0)
        if t not in names[1:3]:
            va = VA[shown] + rng.normal(0, 0.05, (len(lab), 2)).astype(np.float32)
            va[lab < 0] = np.nan
            write_va_annotation(c.root / "VA_Set" / split / f"{t}.txt", np.clip(va, -1, 1))
        if t not in names[5:7]:
            au = AU[shown].copy()
            au[:10] = -1  # an unannotated run
            write_au_annotation(c.root / "AU_Set" / split / f"{t}.txt", au)
    c.va_dir, c.au_dir = c.root / "VA_Set", c.root / "AU_Set"
    return c


def test_one_labels_folder_stays_a_string(three):
    assert build_config({"data": {"labels": [str(three.labels)]}}).data.labels == str(three.labels)
    cfg = build_config({"data": {"labels": [str(three.labels), str(three.va_dir)]}})
    assert cfg.data.labels == [str(three.labels), str(three.va_dir)]
    assert cfg.loss.task_weights == {"expr": 1.0, "va": 1.0, "au": 1.0}


def test_task_files_from_headers(three, tmp_path):
    tf = find_task_files([str(three.au_dir), str(three.labels), str(three.va_dir)], ("Train_Set", "Validation_Set"))
    assert tf.tasks == ["expr", "va", "au"] and set(tf.tracks) == set(three.tracks)
    with pytest.raises(LabelError, match="holds VA labels, as .*VA_Set does"):
        find_task_files([str(three.va_dir), str(three.va_dir) + "/"], ("Train_Set", "Validation_Set"))
    # a track validated by one task and trained on by another validates
    other = tmp_path / "VA2"
    write_va_annotation(other / "Validation_Set" / "video3.txt", np.zeros((5, 2)))
    with pytest.warns(UserWarning, match="1 track.*video3; they validate"):
        tf = find_task_files([str(three.labels), str(other)], ("Train_Set", "Validation_Set"))
    assert tf.tracks["video3"].split == "Validation_Set"


def test_prepare_carries_targets_and_checks_lengths(three, tmp_path):
    cfg = config_for(three, data={"labels": [str(three.labels), str(three.va_dir), str(three.au_dir)]})
    prep = prepare(cfg)
    b = prep.bank
    assert prep.tasks == ["expr", "va", "au"] == b.tasks
    assert b.targets["va"].shape == (b.n_frames, 2) and b.targets["au"].shape == (b.n_frames, 12)
    no_va = sorted(three.tracks)[1]
    assert np.isnan(b.targets["va"][b.rows(b.index(no_va))]).all()
    t = sorted(three.tracks)[0]
    lab = three.label_arrays[t]
    np.testing.assert_array_equal(b.targets["au"][b.rows(b.index(t))][10:], AU[np.where(lab >= 0, lab, 0)][10:])
    # a VA file one frame short: one error naming the file
    bad = tmp_path / "VA_bad"
    n = len(lab)
    write_va_annotation(bad / three.tracks[t] / f"{t}.txt", np.zeros((n - 1, 2)))
    write_va_annotation(bad / "Validation_Set" / "val0.txt", np.zeros((len(three.label_arrays["val0"]), 2)))
    cfg = config_for(three, data={"labels": [str(three.labels), str(bad)]})
    with pytest.raises(DataError, match=rf"{t}.txt: {n - 1} frames but the store holds {n} rows .*ends at line {n}"):
        prepare(cfg)


def test_batches_carry_targets(three):
    cfg = config_for(three, data={"labels": [str(three.va_dir), str(three.au_dir)]}).resolved()
    prep = prepare(cfg)
    b = prep.bank
    assert prep.tasks == ["va", "au"] and (b.labels == -1).all()
    i = b.index(sorted(three.tracks)[0])
    builder = BatchBuilder(b, Standardizer.fit(b, [i]), 32)
    batch = builder.build([Segment(i, 5, 20), None])
    va, au = batch.targets["va"], batch.targets["au"]
    assert va.shape == (2, 32, 2) and au.shape == (2, 32, 12)
    np.testing.assert_array_equal(va[0, :20].numpy(), b.targets["va"][b.rows(i)][5:25])
    assert torch.isnan(va[0, 20:]).all() and (au[1] == -1).all()  # padding and idle slots: no label


def _batch(y, va, au):
    b, t = y.shape
    return Batch(torch.zeros(b, t, 3), y, torch.ones(b, t, dtype=torch.bool), torch.ones(b, dtype=torch.bool),
                 [None] * b, {"va": va, "au": au})


def test_masked_loss_a_task_without_labels_adds_nothing(three):
    cfg = build_config({"loss": {"task_weights": {"expr": 0.5, "va": 2.0, "au": 1.0}, "rdrop": False}})
    slices = {"expr": slice(0, 8), "va": slice(8, 10), "au": slice(10, 22)}
    from exprnet.training.losses import Criterion

    crit = MultiTaskLoss(cfg, slices, Criterion(cfg.loss, np.ones(8)), [], torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    out = torch.randn(2, 6, 22, generator=g, requires_grad=True)
    y = torch.randint(0, 8, (2, 6), generator=g)
    va = torch.rand(2, 6, 2, generator=g) * 2 - 1
    no_au = torch.full((2, 6, 12), -1.0)
    parts = crit(out, None, _batch(y, va, no_au))
    expect = 0.5 * torch.nn.functional.cross_entropy(out[..., :8].reshape(-1, 8), y.reshape(-1)) + \
        2.0 * va_loss(out[..., 8:10], va, torch.ones(2, 6, dtype=torch.bool))
    assert torch.allclose(parts.loss, expect)
    parts.loss.backward()
    assert (out.grad[..., 10:] == 0).all() and out.grad[..., :10].abs().sum() > 0
    # AU labelled on one frame only, VA nowhere: AU's BCE on that frame, VA nothing
    au = no_au.clone()
    au[1, 2] = 1.0
    out.grad = None
    parts = crit(out, None, _batch(torch.full((2, 6), -1), torch.full((2, 6, 2), float("nan")), au))
    m = torch.zeros(2, 6, dtype=torch.bool)
    m[1, 2] = True
    assert torch.allclose(parts.loss, au_loss(out[..., 10:], au, m)) and parts.frames == 1
    parts.loss.backward()
    assert (out.grad[..., :10] == 0).all()


def test_one_head_per_task():
    cfg = build_config({"model": {"encoder": "mlp", "d_model": 16, "hidden": 16, "segment": 8, "head": [8]}}).resolved()
    net = build_model(5, cfg.model, ["expr", "va", "au"])
    out, _ = net(torch.randn(2, 8, 5), torch.ones(2, 8, dtype=torch.bool))
    assert out.shape == (2, 8, 22) and net.slices == {"expr": slice(0, 8), "va": slice(8, 10), "au": slice(10, 22)}
    assert out[..., 8:10].abs().max() <= 1  # VA through tanh
    assert set(build_model(5, cfg.model).state_dict()) == {k for k in net.state_dict() if not k.startswith("heads.")}


def test_train_three_tasks_writes_each_tasks_scores(three, tmp_path):
    cfg = config_for(three, "transformer", data={"labels": [str(three.labels), str(three.va_dir), str(three.au_dir)]},
                     train={"epochs": 2})
    res = experiment.train(cfg, tmp_path / "run")
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["tasks"] == ["expr", "va", "au"]
    keys = {"val_f1", "val_va", "val_ccc_valence", "val_ccc_arousal", "val_au_f1", "val_f1_AU1", "val_f1_AU26"}
    assert keys <= set(m) and all(np.isfinite(m[k]) for k in keys)
    assert m["best_val_score"] == pytest.approx(np.mean([m["val_f1"], m["val_va"], m["val_au_f1"]]))
    # the scores are what the best checkpoint predicts, recomputed with exprnet.tasks.metrics
    prep = prepare(cfg)
    tr = Trainer(cfg, prep.bank, prep.split.train, prep.split.val, res.run)
    tr.stats = Standardizer.load(res.run.stats)
    from exprnet.data.batches import BatchBuilder as BB

    r = cfg.resolved()
    tr.builder = BB(prep.bank, tr.stats, r.model.segment, r.data.present_flags, normalize=r.data.normalize)
    tr.model = build_model(tr.builder.input_dim, r.model, prep.tasks)
    tr.model.load_state_dict(res.run.load("best")["model"])
    tr.average = type("A", (), {"module": tr.model})()
    preds = tr.probs(tr.val_ids, "validate")
    b, ids = prep.bank, tr.val_ids
    va = va_scores(np.concatenate([preds[i][:, 8:10] for i in ids]), np.concatenate([b.targets["va"][b.rows(i)] for i in ids]))
    au = au_scores((np.concatenate([preds[i][:, 10:] for i in ids]) >= 0.5).astype(np.int8),
                   np.concatenate([b.targets["au"][b.rows(i)] for i in ids]))
    assert m["val_va"] == pytest.approx(va["va"], abs=1e-5) and m["val_au_f1"] == pytest.approx(au["au_f1"], abs=1e-5)
    assert (tmp_path / "run" / "curves.png").exists()


def test_cli_train_repeats_labels_and_predicts_each_task(three, tmp_path):
    runner = CliRunner()
    common = ["--store", str(three.store), "--features", ",".join(three.features), "--encoder", "mlp",
              "--epochs", "1", "--segment", "32", "--device", "cpu"]
    r = runner.invoke(app, ["train", *common, "--labels", str(three.va_dir), "--labels", str(three.au_dir),
                            "--out", str(tmp_path / "r")], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "VA CCC" in r.output and "AU F1" in r.output
    assert "after post-processing fitted in-sample (the run's best checkpoint" in r.output  # smooth.folds 0
    # the VA and AU baselines (exprnet.tasks.baselines) on the same data
    r = runner.invoke(app, ["baseline", "--store", str(three.store), "--features", ",".join(three.features),
                            "--labels", str(three.va_dir), "--labels", str(three.au_dir), "--out", str(tmp_path / "b")],
                      env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    mb = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert mb["tasks"] == ["va", "au"] and {"val_va", "val_ccc_valence", "val_au_f1", "val_f1_AU12"} <= set(mb)
    tb = mb["task_baselines"]
    assert "smoothing" in tb["va"] and "postprocess" in tb["au"] and f"VA CCC {mb['val_va']:.4f}" in r.output
    assert (tmp_path / "b" / "checkpoints" / "baseline_va.npz").exists()
    # predict: each task's submission, scored from exactly what the files hold
    r = runner.invoke(app, ["predict", "--run", str(tmp_path / "r"), "--store", str(three.store), "--tracks", "all",
                            "--out", str(tmp_path / "p"), "--labels", str(three.va_dir), "--labels", str(three.au_dir),
                            "--device", "cpu"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "p" / "metrics.json").read_text())
    va, au = read_va_submission(tmp_path / "p" / "submission_va.txt"), read_au_submission(tmp_path / "p" / "submission_au.txt")
    assert set(va) == set(au) == set(three.tracks) and not (tmp_path / "p" / "submission.txt").exists()
    files = find_task_files([str(three.va_dir), str(three.au_dir)], ("Train_Set", "Validation_Set")).files
    tv = sorted(files["va"])
    ta = sorted(files["au"])
    want_va = va_scores(np.concatenate([va[t] for t in tv]), np.concatenate([read_labels(files["va"][t].path).values for t in tv]))
    want_au = au_scores(np.concatenate([au[t] for t in ta]), np.concatenate([read_labels(files["au"][t].path).values for t in ta]))
    assert m["va"] == want_va["va"] and m["ccc_arousal"] == want_va["ccc_arousal"] and m["au_f1"] == want_au["au_f1"]
    assert f"VA CCC {m['va']:.4f}" in r.output
    prob = np.load(tmp_path / "p" / "au" / f"{ta[0]}.npy")  # smoothed per AU, then the run's thresholds
    post = AUPost.from_dict(json.loads((tmp_path / "r" / "task_post.json").read_text())["au"])
    np.testing.assert_array_equal(au[ta[0]], post.binarize(prob))
    # the EXPR-only stages say so in one line
    r = runner.invoke(app, ["ensemble", str(tmp_path / "r"), str(tmp_path / "r"), "--store", str(three.store),
                            "--labels", str(three.labels), "--out", str(tmp_path / "e")])
    assert r.exit_code == 2 and "holds labels of expr but the runs share va, au" in r.output, r.output


def test_task_presets(three, tmp_path):
    from exprnet.config.presets import load_preset

    va = build_config(load_preset("va-paper")).resolved()
    assert va.data.features == ["fau", "ires100", "ecapatdnn", "hubert"] and va.model.encoder == "transformer"
    assert (va.model.layers, va.model.segment, va.model.infer_stride, va.loss.va_mse) == (4, 150, 150, 0.0)
    for name in ("recommended-va", "recommended-au", "recommended-all"):
        cfg = build_config(load_preset(name)).resolved()
        assert cfg.model.encoder == "bilstm" and cfg.smooth.folds == 3, name  # post-processing out of fold
        assert cfg.smooth.kind == ("viterbi" if name == "recommended-all" else "none"), name
        assert cfg.loss.crf == (1.0 if name == "recommended-all" else 0.0), name  # the CRF term is EXPR's
        assert cfg.smooth.baseline == "auto", name  # every head blended with its task baseline
    data = {"data": {"store": str(three.store), "labels": str(three.va_dir), "features": list(three.features)},
            "train": {"device": "cpu", "threads": 1, "epochs": 1}, "model": {"segment": 32}}
    res = experiment.train(build_config(load_preset("recommended-va"), data), tmp_path / "va")
    assert set(res.scores) >= {"val_va", "val_ccc_valence", "val_ccc_arousal"} and "val_f1" not in res.scores
    m = json.loads((tmp_path / "va" / "metrics.json").read_text())  # its VA width, chosen out of fold
    assert m["task_post"]["source"].startswith("out of fold (3 sub-runs") and "val_va_post" in m
    assert 0 <= m["task_post"]["blend"]["va"]["network_weight"] <= 1 and "val_va_network" in m  # the ridge blend


def test_cv_of_a_multitask_run(three, tmp_path):
    from exprnet.training.cv import run_cv

    cfg = config_for(three, "mlp", data={"labels": [str(three.va_dir), str(three.au_dir)]}, train={"epochs": 1})
    res = run_cv(cfg, tmp_path / "cv", 2)
    assert len(res.rows) == 2 and res.pooled_f1 is None  # no EXPR among the tasks: no pooled EXPR F1
    for r in res.rows:
        m = json.loads((tmp_path / "cv" / f"fold{r['fold']}" / "metrics.json").read_text())
        assert r["val_score"] == pytest.approx(m["best_val_score"]) and r["val_va"] == m["val_va"]
        assert r["val_au_f1"] == m["val_au_f1"] and r["best_val_f1"] is None  # no EXPR
    assert res.mean_f1 == pytest.approx(np.mean([r["val_score"] for r in res.rows]))


def test_multitask_run_resumes(three, tmp_path):
    cfg = config_for(three, "mlp", data={"labels": [str(three.labels), str(three.va_dir)]}, train={"epochs": 1})
    first = experiment.train(cfg, tmp_path / "r")
    res = experiment.resume(tmp_path / "r", epochs=2)
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert [h["epoch"] for h in res.history] == [1, 2] and m["tasks"] == ["expr", "va"]
    assert m["best_val_score"] >= first.best_val_f1 and "val_ccc_valence" in m and res.scores
