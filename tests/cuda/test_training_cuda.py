"""Training and bundles on the GPU: the network, its optimizer state and every bundle member there;
bf16 autocast where the GPU has it (fp16 with loss scaling otherwise) learning like float32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from exprnet.deploy.bundle import Bundle
from exprnet.training.experiment import prepare
from exprnet.training.precision import MixedPrecision
from exprnet.training.runfolder import RunFolder
from exprnet.training.trainer import Trainer

from tests.exprnet.conftest import _baseline_cache, config_for, small  # noqa: F401 - fixtures
from tests.exprnet.test_bundle import key, made, runs  # noqa: F401 - fixtures

pytestmark = pytest.mark.cuda


def _trainer(corpus, tmp_path, device, name):
    cfg = config_for(corpus, "bilstm", train={"epochs": 4, "lr": 0.01, "device": device})
    prep = prepare(cfg)
    t = Trainer(cfg, prep.bank, prep.split.train, prep.split.val, RunFolder(tmp_path / name))
    t.setup(resume=False)
    return t


def test_training_runs_on_the_gpu_in_its_precision(small, tmp_path):  # noqa: F811
    gpu = _trainer(small, tmp_path, "cuda", "gpu")
    want = "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    assert gpu.precision.name == want and gpu.scaler.is_enabled() == (want == "fp16")
    assert {p.device.type for p in gpu.model.parameters()} == {"cuda"}
    cpu = _trainer(small, tmp_path, "cpu", "cpu")
    losses = {}
    for name, t in (("gpu", gpu), ("cpu", cpu)):
        first = t.train_epoch(1, max_steps=1)["train_loss"]
        for e in range(2, 5):
            last = t.train_epoch(e)["train_loss"]
        losses[name] = (first, last)
    assert {s.device.type for st in gpu.opt.state.values() for s in st.values() if torch.is_tensor(s) and s.dim()} == {"cuda"}
    (g0, g1), (c0, c1) = losses["gpu"], losses["cpu"]
    assert g0 == pytest.approx(c0, rel=0.03) and g1 < 0.85 * g0 and g1 == pytest.approx(c1, rel=0.05)


def test_fp16_with_loss_scaling_trains(small, tmp_path):  # noqa: F811
    t = _trainer(small, tmp_path, "cuda", "fp16")
    t.precision = MixedPrecision(torch.device("cuda"), torch.float16)
    t.setup(resume=False)
    assert t.scaler.is_enabled()
    first = t.train_epoch(1, max_steps=1)["train_loss"]
    for e in range(2, 5):
        last = t.train_epoch(e)["train_loss"]
    assert np.isfinite(last) and last < 0.9 * first


def test_every_bundle_member_predicts_on_the_gpu(small, made):  # noqa: F811
    tracks = sorted(small.tracks)
    cpu = Bundle.load(made / "bundle", device="cpu").predict_store(str(small.store), tracks)
    b = Bundle.load(made / "bundle", device="cuda")
    gpu = b.predict_store(str(small.store), tracks)
    for m in b.members:
        if m.kind == "network":
            net, dev = m.predictor._model
            assert dev.type == "cuda" and {p.device.type for p in net.parameters()} == {"cuda"}, m.name
    for t in tracks:
        assert np.abs(gpu[t].probs - cpu[t].probs).max() < 0.05  # bf16 / fp16 autocast on the GPU
        assert (gpu[t].labels == cpu[t].labels).mean() > 0.95
