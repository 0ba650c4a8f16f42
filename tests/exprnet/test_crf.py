"""The segment-level loss (training/crf.py): a linear-chain CRF's NLL against brute-force
enumeration of every class path, unlabelled frames summed over, padded rows transparent."""

import itertools

import numpy as np
import pytest
import torch
from exprnet.config import LossConfig
from exprnet.postprocess.chain import frame_shares, transition_matrix
from exprnet.training import experiment
from exprnet.training.crf import ChainNLL
from exprnet.training.losses import Criterion, rdrop_loss
from scipy.special import log_softmax, logsumexp

from .conftest import config_for

C = 8


def chain_and_labels(rng):
    labels = [np.repeat(rng.integers(0, C, 30), rng.integers(1, 12, 30)) for _ in range(4)]
    return labels, ChainNLL(labels, np.ones(C) / C)


def brute_nll(logits, y, labels, prior):
    """log-sum over every path minus log-sum over the paths agreeing with the labelled frames."""
    li, lt = np.log(frame_shares(labels, C)), np.log(transition_matrix(labels, C))
    e = log_softmax(logits, -1) - np.log(prior)
    free, kept = [], []
    for path in itertools.product(range(C), repeat=len(y)):
        s = li[path[0]] + e[0, path[0]] + sum(lt[path[t - 1], path[t]] + e[t, path[t]] for t in range(1, len(y)))
        free.append(s)
        if all(y[t] < 0 or y[t] == path[t] for t in range(len(y))):
            kept.append(s)
    return logsumexp(free) - logsumexp(kept)


def test_chain_nll_equals_brute_force_with_unlabelled_and_padded_rows():
    rng = np.random.default_rng(0)
    labels, nll = chain_and_labels(rng)
    logits = rng.normal(size=(2, 5, C)) * 2
    y = np.array([[3, 3, -1, 5, 5], [1, -1, 1, 0, 0]])
    mask = np.array([[True] * 5, [True, True, True, False, False]])  # row 1: 3 real rows, then padding
    got = float(nll(torch.tensor(logits), torch.tensor(y), torch.tensor(mask)))
    prior = np.ones(C) / C
    want = brute_nll(logits[0], y[0], labels, prior) + brute_nll(logits[1, :3], y[1, :3], labels, prior)
    labelled = 4 + 2  # labelled real frames
    assert got == pytest.approx(want / labelled, rel=1e-5)


def test_chain_nll_divides_by_the_prior_and_has_finite_gradients():
    rng = np.random.default_rng(1)
    labels = [np.repeat(rng.integers(0, C, 30), rng.integers(1, 12, 30)) for _ in range(4)]
    prior = rng.dirichlet(np.ones(C))
    nll = ChainNLL(labels, prior)
    logits = torch.tensor(rng.normal(size=(1, 4, C)), requires_grad=True)
    y = np.array([[2, -1, -1, 6]])
    loss = nll(logits, torch.tensor(y), torch.ones(1, 4, dtype=torch.bool))
    assert float(loss.detach()) == pytest.approx(brute_nll(logits.detach().numpy()[0], y[0], labels, prior) / 2, rel=1e-5)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and float(loss.detach()) >= 0
    # no labelled frame: nothing to learn, an exact zero
    assert float(nll(logits, torch.full((1, 4), -1), torch.ones(1, 4, dtype=torch.bool)).detach()) == 0.0


def test_criterion_adds_the_weighted_chain_term_to_rdrop():
    rng = np.random.default_rng(2)
    labels, nll = chain_and_labels(rng)
    l1, l2 = (torch.tensor(rng.normal(size=(2, 6, C))) for _ in range(2))
    y = torch.tensor(rng.integers(-1, C, (2, 6)))
    y[0, 0] = 1
    counts = np.bincount(np.concatenate(labels), minlength=C)
    crit = Criterion(LossConfig(crf=0.5, class_weights="none"), counts, chain=nll)
    parts = crit(l1, l2, y)
    plain = rdrop_loss(l1, l2, y, 1.0)
    mask = torch.ones_like(y, dtype=torch.bool)
    chain = 0.5 * (float(nll(l1, y, mask)) + float(nll(l2, y, mask)))
    assert float(parts.loss) == pytest.approx(float(plain.loss) + 0.5 * chain, rel=1e-6)
    assert parts.crf == pytest.approx(chain, rel=1e-6)
    with pytest.raises(ValueError, match="loss.crf"):
        Criterion(LossConfig(crf=0.5), counts)


def test_a_run_trains_with_the_chain_loss(small, tmp_path):
    res = experiment.train(config_for(small, train={"epochs": 1}, loss={"crf": 1.0}), tmp_path / "run")
    assert np.isfinite(res.history[0]["train_loss"])


def test_chain_nll_gradient_equals_autograd_through_a_plain_recursion():
    """The custom backward (marginals from forward-backward) against torch's autograd through the
    textbook log-space forward recursion on the same rows."""
    rng = np.random.default_rng(3)
    labels, nll = chain_and_labels(rng)
    logits = torch.tensor(rng.normal(size=(3, 9, C)) * 2, requires_grad=True)
    y = torch.tensor(rng.integers(-1, C, (3, 9)))
    mask = torch.ones(3, 9, dtype=torch.bool)
    mask[1, 6:] = False
    (got,) = torch.autograd.grad(nll(logits, y, mask), logits)
    li = torch.tensor(np.log(frame_shares(labels, C)))
    lt = torch.tensor(np.log(transition_matrix(labels, C)))

    def log_z(e):
        total = 0.0
        for r in range(e.shape[0]):
            n = int(mask[r].sum())
            a = li + e[r, 0]
            for t in range(1, n):
                a = torch.logsumexp(a[:, None] + lt, 0) + e[r, t]
            total = total + torch.logsumexp(a, 0)
        return total

    e = torch.log_softmax(logits, -1) + np.log(C)
    labelled = (y >= 0) & mask
    allowed = torch.nn.functional.one_hot(y.clamp(min=0), C).bool() | ~labelled[..., None]
    ref = (log_z(e) - log_z(e.masked_fill(~allowed, -1e4))) / int(labelled.sum())
    (want,) = torch.autograd.grad(ref, logits)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
