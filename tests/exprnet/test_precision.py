"""Mixed precision in training: which precision each device gets, and a bf16 autocast training step
(the GPU's path, run on this CPU) that learns like float32 and keeps float32 weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from exprnet.training import precision as precision_mod
from exprnet.training.experiment import prepare
from exprnet.training.precision import MixedPrecision
from exprnet.training.runfolder import RunFolder
from exprnet.training.trainer import Trainer

from .conftest import config_for


def test_each_device_gets_its_precision(monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert MixedPrecision.choose(cpu, True).dtype is None  # the CPU trains in float32
    assert MixedPrecision.choose(gpu, False).name == "fp32"
    monkeypatch.setattr(precision_mod, "has_native_bf16", lambda d: True)
    assert MixedPrecision.choose(gpu, True).name == "bf16"
    monkeypatch.setattr(precision_mod, "has_native_bf16", lambda d: False)
    assert MixedPrecision.choose(gpu, True).name == "fp16"


def test_only_fp16_scales_the_loss(monkeypatch):
    made = []
    monkeypatch.setattr(torch.amp, "GradScaler", lambda device, enabled: made.append((device, enabled)))
    for dtype in (torch.float16, torch.bfloat16, None):
        MixedPrecision(torch.device("cuda"), dtype).scaler()
    assert made == [("cuda", True), ("cuda", False), ("cuda", False)]


def _trainer(small, tmp_path, name, mp):
    cfg = config_for(small, "bilstm", train={"epochs": 4, "lr": 0.01})
    prep = prepare(cfg)
    t = Trainer(cfg, prep.bank, prep.split.train, prep.split.val, RunFolder(tmp_path / name))
    t.precision = mp  # the GPU's choice, on this CPU
    t.setup(resume=False)
    return t


def test_a_bf16_autocast_step_trains_like_float32(small, tmp_path):
    cpu = torch.device("cpu")
    rows = {}
    for name, mp in (("fp32", MixedPrecision(cpu)), ("bf16", MixedPrecision(cpu, torch.bfloat16))):
        t = _trainer(small, tmp_path, name, mp)
        first = t.train_epoch(1, max_steps=1)["train_loss"]
        for e in range(2, 5):
            last = t.train_epoch(e)["train_loss"]
        rows[name] = (first, last)
        assert all(p.dtype == torch.float32 for p in t.model.parameters())
        assert all(torch.isfinite(p).all() for p in t.model.parameters())
        assert not t.scaler.is_enabled()
    (f32_first, f32_last), (b_first, b_last) = rows["fp32"], rows["bf16"]
    assert b_first == pytest.approx(f32_first, rel=0.02)  # same weights, same batch: bf16 rounding only
    assert b_last < 0.85 * b_first and f32_last < 0.85 * f32_first  # both learn
    assert b_last == pytest.approx(f32_last, rel=0.02)  # and alike


def test_prediction_under_bf16_is_close_to_float32(small, tmp_path):
    t = _trainer(small, tmp_path, "p", MixedPrecision(torch.device("cpu")))
    t.train_epoch(1)
    from exprnet.models.inference import predict_probs

    def probs(dtype):
        with MixedPrecision(torch.device("cpu"), dtype).autocast():
            return predict_probs(t.model, t.builder, t.bank, t.val_ids, t.cfg.model, 8, torch.device("cpu"))

    a, b = probs(None), probs(torch.bfloat16)
    for i in a:
        assert np.abs(a[i] - b[i]).max() < 0.05
        assert (a[i].argmax(1) == b[i].argmax(1)).mean() > 0.95
