"""Learning-rate schedule (hand values, torch's StepLR), --steps and early stopping in training."""

import math

import numpy as np
import pytest
import torch
from exprnet.config import build_config
from exprnet.training import experiment
from exprnet.training.schedule import Schedule, lr_factor

from .conftest import config_for


def test_lr_factor_by_hand():
    assert lr_factor("constant", 5, 100, 0, 0, 10, 0.5) == 1.0
    assert lr_factor("constant", 4, 100, 10, 0, 10, 0.5) == pytest.approx(0.5)  # warmup: (4 + 1) / 10
    assert lr_factor("cosine", 10, 110, 10, 0, 10, 0.5) == pytest.approx(1.0)
    assert lr_factor("cosine", 60, 110, 10, 0, 10, 0.5) == pytest.approx(0.5)
    assert lr_factor("cosine", 110, 110, 10, 0, 10, 0.5) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor("cosine", 35, 110, 10, 0, 10, 0.5) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor("step", 0, 1, 0, 25, 10, 0.5) == pytest.approx(0.25)


def test_step_schedule_equals_torch_steplr_per_epoch():
    cfg = build_config({"train": {"lr": 0.1, "schedule": "step", "warmup": 0.0, "step_size": 3, "gamma": 0.5,
                                  "epochs": 9}}).train
    p = torch.nn.Parameter(torch.zeros(1))
    ours = Schedule(torch.optim.SGD([p], lr=0.1), cfg, steps_per_epoch=4)
    ref_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    ref = torch.optim.lr_scheduler.StepLR(ref_opt, step_size=3, gamma=0.5)
    for epoch in range(1, 10):
        for _ in range(4):
            assert ours.apply(epoch) == pytest.approx(ref_opt.param_groups[0]["lr"])
            ours.step += 1
            ref_opt.step()
        ref.step()


def test_steps_and_patience(small, tmp_path):
    res = experiment.train(config_for(small, "mlp", train={"steps": 7, "batch_size": 4}), tmp_path / "steps")
    m = res.run.read_metrics()
    assert m["steps"] == 7 and m["finished"] and sum(1 for _ in res.history) >= 1
    # patience 1 with a learning rate that cannot learn: stops after the second epoch without gain
    res = experiment.train(config_for(small, "mlp", train={"epochs": 30, "patience": 1, "lr": 1e-9,
                                                           "schedule": "constant"}), tmp_path / "patience")
    m = res.run.read_metrics()
    assert m["stopped_early"] and m["finished"] and m["last_epoch"] < 30
    assert m["last_epoch"] - m["best_epoch"] == 1
    lrs = [h["lr"] for h in res.history]
    assert np.allclose(lrs, 1e-9)
