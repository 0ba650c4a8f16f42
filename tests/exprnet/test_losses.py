import numpy as np
import torch
from exprnet.losses import rdrop_loss


def np_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def hand(l1, l2, y, alpha, w=None):
    keep = y >= 0
    a, b, t = np_log_softmax(l1[keep]), np_log_softmax(l2[keep]), y[keep]
    ww = np.ones(8) if w is None else w
    ce1 = (-a[np.arange(len(t)), t] * ww[t]).sum() / ww[t].sum()
    ce2 = (-b[np.arange(len(t)), t] * ww[t]).sum() / ww[t].sum()
    kl12 = (np.exp(a) * (a - b)).sum(-1).mean()  # summed over classes, averaged over labelled frames
    kl21 = (np.exp(b) * (b - a)).sum(-1).mean()
    return 0.5 * (ce1 + ce2) + alpha * 0.5 * (kl12 + kl21), 0.5 * (ce1 + ce2), 0.5 * (kl12 + kl21)


def test_rdrop_matches_hand_computation():
    rng = np.random.default_rng(0)
    l1, l2 = rng.normal(size=(2, 5, 8)) * 2, rng.normal(size=(2, 5, 8)) * 2
    y = rng.integers(-1, 8, (2, 5))
    y[0, 0] = 3
    out = rdrop_loss(torch.tensor(l1), torch.tensor(l2), torch.tensor(y), alpha=5.0)
    loss, ce, kl = hand(l1, l2, y, 5.0)
    assert np.isclose(float(out.loss), loss, atol=1e-5)
    assert np.isclose(out.ce, ce, atol=1e-5) and np.isclose(out.kl, kl, atol=1e-5)
    assert out.frames == int((y >= 0).sum())


def test_rdrop_small_example_by_hand():
    # two frames, two classes used; p1 = softmax([0, ln 3]) = [1/4, 3/4], p2 = [1/2, 1/2]
    l1 = torch.full((2, 8), -1e9)
    l2 = torch.full((2, 8), -1e9)
    l1[:, 0], l1[:, 1] = 0.0, float(np.log(3))
    l2[:, 0], l2[:, 1] = 0.0, 0.0
    y = torch.tensor([1, -1])  # only the first frame counts
    out = rdrop_loss(l1, l2, y, alpha=5.0)
    ce = 0.5 * (-np.log(3 / 4) - np.log(1 / 2))
    kl12 = 0.25 * np.log(0.25 / 0.5) + 0.75 * np.log(0.75 / 0.5)
    kl21 = 0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75)
    assert np.isclose(float(out.loss), ce + 5.0 * 0.5 * (kl12 + kl21), atol=1e-6)


def test_class_weights_and_float32_softmax_under_half_logits():
    rng = np.random.default_rng(1)
    l1, l2 = rng.normal(size=(30, 8)), rng.normal(size=(30, 8))
    y = rng.integers(0, 8, 30)
    w = rng.uniform(0.5, 2, 8)
    out = rdrop_loss(torch.tensor(l1).half(), torch.tensor(l2).half(), torch.tensor(y), 2.0,
                     torch.tensor(w))
    assert out.loss.dtype == torch.float32
    loss, _, _ = hand(l1.astype(np.float16).astype(np.float64), l2.astype(np.float16).astype(np.float64), y, 2.0, w)
    assert np.isclose(float(out.loss), loss, atol=1e-4)


def test_no_labelled_frame_gives_zero_loss_with_graph():
    l1 = torch.randn(1, 4, 8, requires_grad=True)
    out = rdrop_loss(l1, l1 * 2, torch.full((1, 4), -1))
    assert out.frames == 0 and out.loss.item() == 0.0
    out.loss.backward()
