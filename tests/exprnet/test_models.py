import numpy as np
import pytest
import torch
from exprnet.config import build_config
from exprnet.data.bank import Standardizer, load_bank
from exprnet.data.batches import BatchBuilder
from exprnet.data.segments import Segment
from exprnet.models import build_model
from exprnet.models.inference import predict_probs
from featurizer.core.store import FeatureStore


def model_cfg(encoder, **kw):
    m = {"encoder": encoder, "d_model": 32, "hidden": 24, "layers": 2, "heads": 4, "head": [16, 8],
         "segment": 16, **kw}
    return build_config({"model": m}).resolved().model


@pytest.mark.parametrize("encoder", ["lstm", "transformer"])
def test_shapes(encoder):
    torch.manual_seed(0)
    net = build_model(20, model_cfg(encoder))
    x = torch.randn(3, 16, 20)
    mask = torch.ones(3, 16, dtype=torch.bool)
    mask[2, 10:] = False
    logits, state = net(x, mask)
    assert logits.shape == (3, 16, 8)
    if encoder == "lstm":
        assert state[0].shape == (2, 3, 24) and state[1].shape == (2, 3, 24)
    else:
        assert state is None
    mask[1] = False  # an idle slot (all padding) must not produce NaN
    logits, _ = net.eval()(x, mask)
    assert torch.isfinite(logits).all()


def test_transformer_ignores_padding():
    torch.manual_seed(0)
    net = build_model(6, model_cfg("transformer")).eval()
    x = torch.randn(1, 16, 6)
    mask = torch.ones(1, 16, dtype=torch.bool)
    mask[0, 10:] = False
    a, _ = net(x, mask)
    x2 = x.clone()
    x2[0, 10:] = 99.0
    b, _ = net(x2, mask)
    assert torch.allclose(a[0, :10], b[0, :10], atol=1e-5)


def test_reset_zeroes_the_carried_state():
    torch.manual_seed(0)
    net = build_model(5, model_cfg("lstm")).eval()
    x = torch.randn(2, 16, 5)
    mask = torch.ones(2, 16, dtype=torch.bool)
    fresh, _ = net(x, mask)
    state = tuple(torch.randn_like(s) for s in net.encoder.zero_state(2, torch.device("cpu")))
    out, _ = net(x, mask, state, reset=torch.tensor([True, False]))
    assert torch.allclose(out[0], fresh[0], atol=1e-6)
    assert not torch.allclose(out[1], fresh[1], atol=1e-3)


def test_carried_state_lstm_equals_whole_track_in_eval(small):
    reader = FeatureStore(small.store, mode="r")
    tracks = sorted(small.tracks)
    bank = load_bank(reader, list(small.features), tracks, small.label_arrays)
    stats = Standardizer.fit(bank, range(len(tracks)))
    cfg = model_cfg("lstm", segment=16)
    torch.manual_seed(0)
    builder = BatchBuilder(bank, stats, 16, present_flags="feature")
    net = build_model(builder.input_dim, cfg).eval()
    probs = predict_probs(net, builder, bank, range(len(tracks)), cfg, batch_size=3,
                          device=torch.device("cpu"), prefetch=2)
    for i in range(len(tracks)):
        n = bank.length(i)
        whole = BatchBuilder(bank, stats, n, present_flags="feature").build([Segment(i, 0, n, True)])
        with torch.no_grad():
            logits, _ = net(whole.x, whole.mask)
        ref = torch.softmax(logits[0], -1).numpy()
        assert probs[i].shape == (n, 8)
        np.testing.assert_allclose(probs[i], ref, atol=2e-5)


def test_transformer_inference_averages_overlaps(small):
    reader = FeatureStore(small.store, mode="r")
    tracks = sorted(small.tracks)[:2]
    bank = load_bank(reader, list(small.features), tracks)
    stats = Standardizer.fit(bank, [0, 1])
    cfg = model_cfg("transformer", segment=16, infer_stride=8)
    net = build_model(bank.dim, cfg).eval()
    builder = BatchBuilder(bank, stats, 16)
    probs = predict_probs(net, builder, bank, [0, 1], cfg, 4, torch.device("cpu"))
    for i in (0, 1):
        assert probs[i].shape == (bank.length(i), 8)
        np.testing.assert_allclose(probs[i].sum(-1), 1.0, atol=1e-5)
