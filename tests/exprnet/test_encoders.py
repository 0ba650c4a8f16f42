"""The encoders of issue 13: TCN (causal or not), BiLSTM (packed), per-frame MLP, pre-norm Transformer."""

import pytest
import torch
from exprnet.config import build_config
from exprnet.models import build_model


def net(encoder, **kw):
    m = {"encoder": encoder, "d_model": 16, "hidden": 12, "layers": 3, "heads": 4, "head": [8], "segment": 40,
         "dropout": 0.0, **kw}
    torch.manual_seed(0)
    return build_model(6, build_config({"model": m}).resolved().model).eval()


@pytest.mark.parametrize("encoder", ["tcn", "bilstm", "mlp", "transformer"])
def test_shapes_padding_and_idle_slots(encoder):
    model = net(encoder, norm_first=True)
    x = torch.randn(3, 40, 6)
    mask = torch.ones(3, 40, dtype=torch.bool)
    mask[1, 25:] = False
    mask[2] = False  # an idle slot
    a, state = model(x, mask)
    assert a.shape == (3, 40, 8) and state is None and torch.isfinite(a).all()
    x2 = x.clone()
    x2[1, 25:] = 50.0  # padding content must not reach real rows
    b, _ = model(x2, mask)
    torch.testing.assert_close(a[1, :25], b[1, :25], atol=1e-5, rtol=1e-5)


def test_tcn_causal_sees_only_the_past_and_its_receptive_field():
    causal, centred = net("tcn", causal=True, kernel=3), net("tcn", causal=False, kernel=3)
    assert causal.encoder.receptive_field == 1 + 2 * (1 + 2 + 4)  # 15 frames
    x = torch.randn(1, 40, 6)
    mask = torch.ones(1, 40, dtype=torch.bool)
    x2 = x.clone()
    x2[0, 20:] += 3.0  # change the future from frame 20 on
    a, _ = causal(x, mask)
    b, _ = causal(x2, mask)
    torch.testing.assert_close(a[0, :20], b[0, :20])
    assert not torch.allclose(a[0, 20:], b[0, 20:])
    a, _ = centred(x, mask)
    b, _ = centred(x2, mask)
    torch.testing.assert_close(a[0, :13], b[0, :13])  # 7 frames of look-ahead: frames < 13 cannot see 20
    assert not torch.allclose(a[0, 13:20], b[0, 13:20])


def test_bilstm_equals_the_unpadded_sequence_and_sees_both_directions():
    model = net("bilstm")
    x = torch.randn(1, 40, 6)
    mask = torch.ones(1, 40, dtype=torch.bool)
    mask[0, 30:] = False
    padded, _ = model(x, mask)
    alone, _ = model(x[:, :30], torch.ones(1, 30, dtype=torch.bool))
    torch.testing.assert_close(padded[0, :30], alone[0], atol=1e-5, rtol=1e-5)
    x2 = x.clone()
    x2[0, 5] += 3.0
    later, _ = model(x2, mask)
    assert (later[0, 0] - padded[0, 0]).abs().max() > 1e-4  # frame 0 hears frame 5 (backward direction)


def test_mlp_is_per_frame():
    model = net("mlp")
    x = torch.randn(1, 40, 6)
    mask = torch.ones(1, 40, dtype=torch.bool)
    a, _ = model(x, mask)
    x2 = x.clone()
    x2[0, 10] += 5.0
    b, _ = model(x2, mask)
    changed = (a - b).abs().amax(-1)[0] > 1e-6
    assert changed.tolist() == [k == 10 for k in range(40)]


def test_transformer_pre_norm_and_position_dropout_options():
    pre = net("transformer", norm_first=True, pos_dropout=False, dropout=0.3)
    assert all(layer.norm_first for layer in pre.encoder.layers)
    assert isinstance(pre.encoder.final_norm, torch.nn.LayerNorm)
    assert isinstance(pre.encoder.drop, torch.nn.Identity)
    post = net("transformer", norm_first=False)
    assert not any(layer.norm_first for layer in post.encoder.layers)
    assert isinstance(post.encoder.final_norm, torch.nn.Identity)
