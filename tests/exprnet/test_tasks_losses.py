"""Masked VA/AU losses and R-Drop terms against plain implementations (values and autograd gradients)."""

import math

import numpy as np
import pytest
import torch
from exprnet.errors import DataError
from exprnet.tasks.losses import au_loss, au_pos_weight, au_rdrop, va_loss, va_rdrop


def plain_ccc(p, t):
    n = len(p)
    mp, mt = sum(p) / n, sum(t) / n
    vp = sum((a - mp) ** 2 for a in p) / n
    vt = sum((b - mt) ** 2 for b in t) / n
    cov = sum((a - mp) * (b - mt) for a, b in zip(p, t, strict=True)) / n
    return 2 * cov / (vp + vt + (mp - mt) ** 2)


def plain_va(pred, target, mask, mse_weight=0.0):
    """Frame by frame, in Python over the kept frames."""
    rows = [(b, s) for b in range(pred.shape[0]) for s in range(pred.shape[1])
            if mask[b, s] and not torch.isnan(target[b, s]).any()]
    loss = 0.0
    for d in range(2):
        loss = loss + 1 - plain_ccc([pred[b, s, d] for b, s in rows], [target[b, s, d] for b, s in rows])
    if mse_weight:
        loss = loss + mse_weight * sum((pred[b, s, d] - target[b, s, d]) ** 2 for b, s in rows for d in range(2)) / (
            2 * len(rows))
    return loss


def plain_au(logits, target, mask, pw):
    terms = []
    for b in range(logits.shape[0]):
        for s in range(logits.shape[1]):
            for j in range(12):
                if mask[b, s] and target[b, s, j] >= 0:
                    z, y = logits[b, s, j], float(target[b, s, j])
                    ls = torch.nn.functional.logsigmoid
                    terms.append(-(pw[j] * y * ls(z) + (1 - y) * ls(-z)))
    return sum(terms) / len(terms)


def va_batch(seed=0, b=3, t=7):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(b, t, 2, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.rand(b, t, 2, generator=g, dtype=torch.float64) * 2 - 1
    mask = torch.rand(b, t, generator=g) < 0.7
    target[0, 1] = float("nan")  # an unannotated frame inside the mask
    mask[0, 1] = True
    return pred, target, mask


@pytest.mark.parametrize("mse", [0.0, 0.5])
def test_va_loss_value_and_gradient_match_a_plain_implementation(mse):
    pred, target, mask = va_batch()
    got = va_loss(pred, target, mask, mse_weight=mse)
    (g1,) = torch.autograd.grad(got, pred)
    want = plain_va(pred, target, mask, mse)
    (g2,) = torch.autograd.grad(want, pred)
    assert got.item() == pytest.approx(want.item(), rel=1e-6)
    assert torch.allclose(g1.double(), g2, atol=1e-6)
    keep = mask & ~torch.isnan(target).any(-1)
    assert (g1[~keep] == 0).all()


def test_va_loss_gradcheck():
    pred, target, mask = va_batch(1)
    target = torch.nan_to_num(target)
    assert torch.autograd.gradcheck(lambda p: va_loss(p, target, mask, 0.3).double(), (pred,))


def test_masked_frames_change_nothing():
    pred, target, mask = va_batch(2)
    base = va_loss(pred, target, mask)
    p2, t2 = pred.detach().clone(), target.clone()
    p2[~mask] = 100.0
    t2[~mask] = float("nan")
    assert (va_loss(p2, t2, mask)).item() == pytest.approx((base).item())


def test_empty_masks_give_exact_zero_and_zero_gradient_even_with_nan_inputs():
    pred = torch.full((2, 4, 2), float("nan"), requires_grad=True)
    logits = torch.full((2, 4, 12), float("inf"), requires_grad=True)
    none = torch.zeros(2, 4, dtype=torch.bool)
    target_va = torch.zeros(2, 4, 2)
    target_au = torch.zeros(2, 4, 12)
    losses = [va_loss(pred, target_va, none, 1.0), au_loss(logits, target_au, none, torch.ones(12)),
              va_rdrop(pred, pred * 2, none), au_rdrop(logits, logits * 2, none)]
    for loss in losses:
        assert loss.item() == 0.0 and loss.requires_grad
    total = sum(losses)
    gp, gl = torch.autograd.grad(total, (pred, logits))
    assert (gp == 0).all() and (gl == 0).all()
    # AU rows of -1 inside the mask are as good as no mask
    assert au_loss(logits, torch.full((2, 4, 12), -1.0), ~none).item() == 0.0


def test_a_task_without_labels_on_a_batch_contributes_nothing():
    pred, target, mask = va_batch(3)
    logits = torch.randn(3, 7, 12, dtype=torch.float64, requires_grad=True)
    no_au = torch.full((3, 7, 12), -1.0, dtype=torch.float64)
    va_only = torch.autograd.grad(va_loss(pred, target, mask), pred)[0]
    both = va_loss(pred, target, mask) + 2.0 * au_loss(logits, no_au, mask, torch.ones(12))
    g_va, g_au = torch.autograd.grad(both, (pred, logits))
    assert torch.equal(g_va, va_only) and (g_au == 0).all()


def test_au_loss_value_and_gradient_match_a_plain_implementation():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(2, 5, 12, generator=g, dtype=torch.float64, requires_grad=True)
    target = (torch.rand(2, 5, 12, generator=g) < 0.3).double()
    target[1, 2] = -1  # an unannotated row
    target[0, 0, 5] = -1  # and one cell
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 4] = False
    pw = torch.linspace(0.5, 6.0, 12, dtype=torch.float64)
    got = au_loss(logits, target, mask, pw)
    want = plain_au(logits, target, mask, pw)
    assert got.item() == pytest.approx(want.item(), rel=1e-6)
    g1 = torch.autograd.grad(got, logits)[0]
    g2 = torch.autograd.grad(want, logits)[0]
    assert torch.allclose(g1.double(), g2, atol=1e-7)
    assert torch.autograd.gradcheck(lambda z: au_loss(z, target, mask, pw).double(), (logits,))


def test_rdrop_terms_match_their_definitions():
    g = torch.Generator().manual_seed(5)
    z1 = torch.randn(2, 6, 12, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(2, 6, 12, generator=g, dtype=torch.float64)
    mask = torch.rand(2, 6, generator=g) < 0.6
    p1, p2 = torch.sigmoid(z1[mask]), torch.sigmoid(z2[mask])

    def kl(a, b):
        return a * (torch.log(a) - torch.log(b)) + (1 - a) * (torch.log(1 - a) - torch.log(1 - b))

    want = (0.5 * (kl(p1, p2) + kl(p2, p1))).mean()
    got = au_rdrop(z1, z2, mask)
    assert (got).item() == pytest.approx((want).item(), rel=1e-9)
    assert torch.allclose(torch.autograd.grad(got, z1)[0], torch.autograd.grad(want, z1)[0], atol=1e-10)
    v1, v2 = torch.randn(2, 6, 2, dtype=torch.float64), torch.randn(2, 6, 2, dtype=torch.float64)
    want_va = sum(((v1[b, s] - v2[b, s]) ** 2).sum() for b in range(2) for s in range(6) if mask[b, s]) / int(mask.sum())
    assert (va_rdrop(v1, v2, mask)).item() == pytest.approx((want_va).item())


def test_pos_weight_is_negatives_over_positives_on_annotated_cells():
    a = np.zeros((10, 12), np.int8)
    a[:2, 0] = 1  # AU1: 2 positives, 8 negatives
    a[:, 1] = 1  # AU2: never negative
    a[:4, 2] = 1
    b = np.full((5, 12), -1, np.int8)  # unannotated rows count for nothing
    w = au_pos_weight([a, b])
    assert w.dtype == np.float32 and w.shape == (12,)
    assert w[0] == pytest.approx(4.0) and w[1] == 1.0 and w[2] == pytest.approx(6 / 4)
    assert w[3] == 1.0  # never positive
    rare = np.zeros((1000, 12), np.int8)
    rare[:2, 0] = 1  # 998 / 2 = 499, clipped
    assert au_pos_weight(rare, max_weight=50.0)[0] == pytest.approx(50.0)
    assert not math.isnan(float(w.sum()))


def test_bad_shapes_are_one_line_errors():
    with pytest.raises(DataError, match=r"\(B, T, 2\)") as e:
        va_loss(torch.zeros(2, 3, 3), torch.zeros(2, 3, 3), torch.ones(2, 3, dtype=torch.bool))
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match=r"\(B, T, 12\)"):
        au_loss(torch.zeros(2, 3, 12), torch.zeros(2, 3, 12), torch.ones(3, 2, dtype=torch.bool))


def test_one_frame_and_half_precision_give_finite_losses_and_gradients():
    pred = torch.tensor([[[0.2, -0.1], [0.5, 0.5]]], dtype=torch.float16, requires_grad=True)
    target = torch.tensor([[[0.3, 0.0], [float("nan"), float("nan")]]], dtype=torch.float16)
    mask = torch.tensor([[True, True]])  # one annotated frame: CCC 0, loss 2
    loss = va_loss(pred, target, mask, mse_weight=1.0)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert loss.item() == pytest.approx(2.0 + (0.01 + 0.01) / 2, abs=1e-3)
    (g,) = torch.autograd.grad(loss, pred)
    assert torch.isfinite(g).all() and (g[0, 1] == 0).all()
    logits = torch.zeros(1, 2, 12, dtype=torch.bfloat16, requires_grad=True)
    au = au_loss(logits, torch.ones(1, 2, 12), mask, torch.full((12,), 3.0))
    assert au.item() == pytest.approx(3.0 * math.log(2.0), rel=1e-3)
