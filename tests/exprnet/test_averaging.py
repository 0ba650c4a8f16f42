"""``train.ema``: the moving average of the weights is what is validated, saved and predicted with."""

import numpy as np
import pytest
import torch
from exprnet.prediction.predict import load_run, run_probs
from exprnet.reports.metrics import macro_f1
from exprnet.reports.progress import NullReporter
from exprnet.training import experiment
from exprnet.training.ema import WeightAverage

from .conftest import config_for


def test_average_follows_the_ema_rule_by_hand():
    net = torch.nn.Linear(2, 1, bias=False)
    avg = WeightAverage(net, 0.75)
    want = None
    for w in ([1.0, 2.0], [3.0, -2.0], [5.0, 6.0]):
        with torch.no_grad():
            net.weight.copy_(torch.tensor([w]))
        avg.update()
        want = np.array(w) if want is None else 0.75 * want + 0.25 * np.array(w)  # first update copies
        np.testing.assert_allclose(avg.module.weight.detach().numpy()[0], want, rtol=1e-6)
    assert avg.module is not net
    other = WeightAverage(torch.nn.Linear(2, 1, bias=False), 0.75)
    other.load_state_dict({"model": avg.module.state_dict(), **avg.state_dict()})
    np.testing.assert_allclose(other.module.weight.detach().numpy(), avg.module.weight.detach().numpy())
    np.testing.assert_allclose(other.model.weight.detach().numpy(), net.weight.detach().numpy())
    assert WeightAverage(net, None).module is net and WeightAverage(net, None).state_dict() == {}


def test_a_run_with_ema_saves_and_predicts_with_the_average(small, tmp_path):
    res = experiment.train(config_for(small, train={"epochs": 2, "ema": 0.9}), tmp_path / "run")
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert set(last["ema"]) and any(not torch.equal(last["model"][k], last["train_model"][k]) for k in last["model"])
    lr = load_run(tmp_path / "run", "last")
    tracks = lr.run.read_tracks()["val"]
    bank, probs = run_probs(lr, str(small.store), tracks, {t: small.label_arrays[t] for t in tracks}, "cpu",
                            NullReporter())
    y = np.concatenate([bank.track_labels(i) for i in range(len(tracks))])
    f1 = macro_f1(y, np.concatenate([probs[i] for i in range(len(tracks))]).argmax(1))
    assert f1 == pytest.approx(res.history[-1]["val_f1"], abs=1e-6)  # validation used the average too
