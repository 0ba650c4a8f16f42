import json

import numpy as np
import pytest
import torch
from exprnet.data.bank import Standardizer
from exprnet.training import experiment
from exprnet.training.experiment import prepare
from exprnet.training.runfolder import RunFolder
from exprnet.training.trainer import Trainer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from .conftest import config_for


def frames(bank, tracks, stats):
    ids = bank.ids(tracks)
    x = np.concatenate([bank.values[bank.rows(i)] for i in ids]).astype(np.float32)
    y = np.concatenate([bank.track_labels(i) for i in ids])
    keep = y >= 0
    return (x[keep] - stats.mean) / stats.std, y[keep]


@pytest.fixture(scope="module")
def baselines(corpus):
    prep = prepare(config_for(corpus))
    stats = Standardizer.fit(prep.bank, prep.bank.ids(prep.split.train))
    xt, yt = frames(prep.bank, prep.split.train, stats)
    xv, yv = frames(prep.bank, prep.split.val, stats)
    f1 = lambda p: f1_score(yv, p, average="macro", labels=range(8), zero_division=0)  # noqa: E731
    majority = f1(np.full_like(yv, np.bincount(yt).argmax()))
    logreg = f1(LogisticRegression(max_iter=300).fit(xt, yt).predict(xv))
    return majority, logreg


@pytest.mark.parametrize("encoder", ["lstm", "transformer"])
def test_learns_beyond_per_frame_baselines(corpus, baselines, encoder, tmp_path):
    majority, logreg = baselines
    res = experiment.train(config_for(corpus, encoder, train={"epochs": 10}), tmp_path / "run")
    assert res.best_val_f1 > majority + 0.4, (res.best_val_f1, majority)
    assert res.best_val_f1 > logreg + 0.15, (res.best_val_f1, logreg)


def test_run_folder_contents(small, tmp_path):
    res = experiment.train(config_for(small, train={"epochs": 2}), tmp_path / "run")
    run = RunFolder(tmp_path / "run")
    for p in (run.config, run.tracks, run.stats, run.best, run.last, run.metrics, run.epochs_csv,
              run.curves_png, run.confusion_png):
        assert p.exists(), p
    assert any(run.tensorboard.glob("events.out.tfevents.*"))
    m = json.loads(run.metrics.read_text())
    assert m["finished"] and m["best_epoch"] in (1, 2) and np.isclose(m["best_val_f1"], res.best_val_f1)
    assert list(m["per_class_f1"]) == ["Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness",
                                       "Surprise", "Other"]
    assert len(run.epochs_csv.read_text().splitlines()) == 3
    cfg = run.read_config()
    assert cfg.model.d_model == 64 and cfg.model.stride == cfg.model.segment  # resolved
    assert not list(run.root.rglob("*.tmp"))


@pytest.mark.parametrize(("encoder", "ema", "jitter"), [("lstm", None, False), ("transformer", None, False),
                                                         ("lstm", 0.9, False), ("transformer", None, True)])
def test_resume_repeats_an_unbroken_run(small, tmp_path, encoder, ema, jitter):
    cfg = config_for(small, encoder, train={"epochs": 3, "ema": ema, "segment_jitter": jitter})
    whole = experiment.train(cfg, tmp_path / "whole")

    class Killed(KeyboardInterrupt):
        pass

    def kill(epoch):
        if epoch == 1:
            raise Killed

    prep = prepare(cfg)
    with pytest.raises(Killed):
        Trainer(cfg, prep.bank, prep.split.train, prep.split.val, RunFolder(tmp_path / "broken")).fit(
            on_epoch_end=kill)
    assert json.loads((tmp_path / "broken" / "metrics.json").read_text())["last_epoch"] == 1
    resumed = experiment.resume(tmp_path / "broken")
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    for a, b in zip(whole.history, resumed.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_f1"] == pytest.approx(b["val_f1"], abs=1e-9)
    wa = torch.load(tmp_path / "whole" / "checkpoints" / "last.pt", weights_only=True)["model"]
    wb = torch.load(tmp_path / "broken" / "checkpoints" / "last.pt", weights_only=True)["model"]
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)
    assert resumed.best_val_f1 == pytest.approx(whole.best_val_f1)


@pytest.mark.parametrize("encoder", ["lstm", "transformer"])
def test_segment_jitter_moves_the_training_grid_each_epoch(small, tmp_path, encoder):
    cfg = config_for(small, encoder, train={"epochs": 1, "segment_jitter": True})
    prep = prepare(cfg)
    trainer = Trainer(cfg, prep.bank, prep.split.train, prep.split.val, RunFolder(tmp_path / "run"))
    trainer.setup(resume=False)
    starts = [sorted((s.track, s.start) for step in trainer._plan(e) for s in step if s) for e in (1, 2, 1)]
    assert starts[0] != starts[1] and starts[0] == starts[2]  # a new grid per epoch, the same for a resumed epoch
    labelled = sum(int((prep.bank.track_labels(i) >= 0).sum()) for i in trainer.train_ids)
    seen = sum(int((prep.bank.labels[trainer.builder.rows(s)] >= 0).sum())
               for step in trainer._plan(2) for s in step if s)
    assert seen == labelled  # every labelled training frame once per epoch


def test_resume_of_a_finished_run_can_extend_it(small, tmp_path):
    experiment.train(config_for(small, train={"epochs": 1}), tmp_path / "run")
    res = experiment.resume(tmp_path / "run", epochs=2)
    assert [h["epoch"] for h in res.history] == [1, 2]
    assert RunFolder(tmp_path / "run").read_config().train.epochs == 2


def test_class_weights_and_flags_train(small, tmp_path):
    res = experiment.train(config_for(small, data={"present_flags": "feature"},
                                      train={"epochs": 1, "grad_clip": 1.0},
                                      loss={"class_weights": "balanced", "rdrop": False}), tmp_path / "run")
    assert np.isfinite(res.history[0]["train_loss"])
