import numpy as np
import torch
from exprnet.training.losses import rdrop_loss


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


# -- class imbalance: weights, logit adjustment, focal loss (hand computations) ----------------
from exprnet.config import LossConfig  # noqa: E402
from exprnet.training.losses import Criterion, class_counts, class_weight_vector, log_priors  # noqa: E402


def test_class_weight_rules_by_hand():
    counts = np.array([60, 20, 0, 10, 5, 5, 0, 0], float)  # 100 frames, 5 classes present
    np.testing.assert_allclose(class_weight_vector(counts, "balanced"),
                               [100 / (8 * 60), 100 / (8 * 20), 0, 100 / (8 * 10), 100 / 40, 100 / 40, 0, 0])
    np.testing.assert_allclose(class_weight_vector(counts, "sqrt")[:2], [np.sqrt(100 / 480), np.sqrt(100 / 160)])
    assert class_weight_vector(counts, "none") is None
    np.testing.assert_allclose(class_weight_vector(counts, [1, 2, 3, 4, 5, 6, 7, 8]), np.arange(1, 9))
    # sklearn's rule is the same
    from sklearn.utils.class_weight import compute_class_weight

    y = np.repeat(np.arange(8), counts.astype(int))
    present = np.unique(y)
    np.testing.assert_allclose(class_weight_vector(counts, "balanced")[present] * 8 / len(present),
                               compute_class_weight("balanced", classes=present, y=y))
    np.testing.assert_array_equal(class_counts([np.array([0, 0, -1, 3]), np.array([3, 7])]),
                                  [2, 0, 0, 2, 0, 0, 0, 1])


def test_logit_adjusted_weighted_loss_by_hand():
    # one frame of class 1, logits z; priors from counts; tau = 1: CE on z + log(prior)
    z = np.array([0.5, -0.2, 0.1, 0.0, 0.3, -1.0, 0.2, 0.4])
    counts = np.array([50, 10, 5, 5, 10, 10, 5, 5], float)
    adj = z + np.log(counts / counts.sum())
    want = -(adj[1] - np.log(np.exp(adj).sum()))
    crit = Criterion(LossConfig(rdrop=False, logit_adjust=1.0), counts)
    got = crit(torch.tensor(z[None]), None, torch.tensor([1]))
    assert np.isclose(float(got.loss), want, atol=1e-6)
    # with balanced weights, two frames: (w_a ce_a + w_b ce_b) / (w_a + w_b) on adjusted logits
    z2 = np.stack([z, z[::-1]])
    y = np.array([1, 0])
    w = counts.sum() / (8 * counts)
    ce = [-(a[k] - np.log(np.exp(a).sum())) for a, k in zip(z2 + np.log(counts / counts.sum()), y, strict=True)]
    want = (w[1] * ce[0] + w[0] * ce[1]) / (w[1] + w[0])
    crit = Criterion(LossConfig(rdrop=False, logit_adjust=1.0, class_weights="balanced"), counts)
    assert np.isclose(float(crit(torch.tensor(z2), None, torch.tensor(y)).loss), want, atol=1e-6)
    np.testing.assert_allclose(log_priors(np.array([3, 0, 1, 0, 0, 0, 0, 0.0])), np.log(np.array([3, 1, 1, 1, 1, 1, 1, 1]) / 10))


def test_focal_loss_by_hand_and_gamma_zero_is_ce():
    z = np.array([[2.0, 0.0, -1.0, 0, 0, 0, 0, 0], [0.0, 1.0, 0.5, 0, 0, 0, 0, 0]])
    y = np.array([0, 2])
    logp = np_log_softmax(z)[np.arange(2), y]
    want = np.mean(-((1 - np.exp(logp)) ** 2) * logp)
    out = rdrop_loss(torch.tensor(z), None, torch.tensor(y), focal_gamma=2.0)
    assert np.isclose(float(out.loss), want, atol=1e-6)
    assert np.isclose(float(rdrop_loss(torch.tensor(z), None, torch.tensor(y), focal_gamma=0.0).loss),
                      -logp.mean(), atol=1e-6)


def test_imbalance_terms_compose_with_rdrop():
    rng = np.random.default_rng(3)
    l1, l2 = rng.normal(size=(12, 8)), rng.normal(size=(12, 8))
    y = rng.integers(-1, 8, 12)
    y[0] = 2
    counts = rng.integers(1, 50, 8).astype(float)
    cfg = LossConfig(rdrop=True, alpha=2.0, class_weights="sqrt", logit_adjust=0.5, focal_gamma=1.0)
    got = Criterion(cfg, counts)(torch.tensor(l1), torch.tensor(l2), torch.tensor(y))
    keep = y >= 0
    w = np.sqrt(counts.sum() / (8 * counts))
    off = 0.5 * np.log(counts / counts.sum())

    def focal_ce(lg):
        lp = np_log_softmax(lg[keep] + off)[np.arange(keep.sum()), y[keep]]
        f = -(1 - np.exp(lp)) * lp
        return (w[y[keep]] * f).sum() / w[y[keep]].sum()

    a, b = np_log_softmax(l1[keep]), np_log_softmax(l2[keep])  # KL on the plain logits
    kl = 0.5 * ((np.exp(a) * (a - b)).sum(-1).mean() + (np.exp(b) * (b - a)).sum(-1).mean())
    assert np.isclose(float(got.loss), 0.5 * (focal_ce(l1) + focal_ce(l2)) + 2.0 * kl, atol=1e-5)


def test_label_smoothing_matches_torch_and_composes_with_weights():
    import torch.nn.functional as F

    rng = np.random.default_rng(4)
    z, y = rng.normal(size=(20, 8)), rng.integers(0, 8, 20)
    got = rdrop_loss(torch.tensor(z), None, torch.tensor(y), label_smoothing=0.1)
    want = F.cross_entropy(torch.tensor(z), torch.tensor(y), label_smoothing=0.1)
    assert np.isclose(float(got.loss), float(want), atol=1e-6)
    # with class weights: each frame's smoothed CE weighted by its own class's weight
    w = rng.uniform(0.5, 3, 8)
    lp = np_log_softmax(z)
    per = -0.9 * lp[np.arange(20), y] - 0.1 * lp.mean(-1)
    got = rdrop_loss(torch.tensor(z), None, torch.tensor(y), class_weights=torch.tensor(w), label_smoothing=0.1)
    assert np.isclose(float(got.loss), (w[y] * per).sum() / w[y].sum(), atol=1e-6)
