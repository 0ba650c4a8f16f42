"""Class-balanced segment sampling (``train.sampling: balanced``): weights, draws and the loss's
class counts against hand computations and a Monte-Carlo count; the Trainer's plans and loss."""

import numpy as np
import pytest
from exprnet.config import build_config
from exprnet.data.segments import Segment, shuffled_segments
from exprnet.errors import ConfigError
from exprnet.training.experiment import prepare
from exprnet.training.losses import class_weight_vector
from exprnet.training.runfolder import RunFolder
from exprnet.training.sampling import SegmentSampler
from exprnet.training.trainer import Trainer

from .conftest import config_for

# one track of 12 rows: class 0 everywhere except rows 4-5 (class 7) and rows 8-9 (unlabelled)
LABELS = np.array([0, 0, 0, 0, 7, 7, 0, 0, -1, -1, 0, 0])
SEGS = [Segment(0, 0, 4), Segment(0, 4, 4), Segment(0, 8, 2), Segment(0, 8, 4)]
COUNTS = np.bincount(LABELS[LABELS >= 0], minlength=8).astype(float)  # 8 of class 0, 2 of class 7


def labels_of(s: Segment) -> np.ndarray:
    return LABELS[s.start:s.start + s.length]


def sampler() -> SegmentSampler:
    return SegmentSampler(labels_of, COUNTS)


def test_segment_weight_is_the_mean_balanced_weight_of_its_labelled_frames():
    s = sampler()
    w0, w7 = 10 / (8 * 8), 10 / (8 * 2)  # balanced: total / (classes * count)
    assert s.weight(SEGS[0]) == pytest.approx(w0)
    assert s.weight(SEGS[1]) == pytest.approx((2 * w7 + 2 * w0) / 4)
    assert s.weight(SEGS[2]) == 0.0  # no labelled frame: never drawn
    assert s.weight(SEGS[3]) == pytest.approx(w0)  # the unlabelled rows do not count
    w = np.array([w0, (w7 + w0) / 2, 0.0, w0])
    np.testing.assert_allclose(s.probabilities(SEGS), w / w.sum())
    half = SegmentSampler(labels_of, COUNTS, power=0.5)
    np.testing.assert_allclose(half.probabilities(SEGS), np.sqrt(w) / np.sqrt(w).sum())  # train.sampling: sqrt


def test_draws_follow_the_probabilities_and_expected_counts_match_a_monte_carlo_count():
    s, rng = sampler(), np.random.default_rng(0)
    p = s.probabilities(SEGS)
    draws = [s.draw(SEGS, rng) for _ in range(4000)]
    assert all(len(d) == len(SEGS) for d in draws)
    seen = np.bincount([SEGS.index(x) for d in draws for x in d], minlength=4) / (4000 * len(SEGS))
    np.testing.assert_allclose(seen, p, atol=0.01)
    assert seen[2] == 0
    mc = np.mean([np.bincount(np.concatenate([labels_of(x) for x in d]) + 1, minlength=9)[1:] for d in draws], 0)
    np.testing.assert_allclose(s.expected_counts(SEGS), mc, rtol=0.03, atol=0.05)
    hand = 4 * (p[0] * np.eye(8)[0] * 4 + p[1] * (2 * np.eye(8)[0] + 2 * np.eye(8)[7]) + p[3] * np.eye(8)[0] * 2)
    np.testing.assert_allclose(s.expected_counts(SEGS), hand)


def test_a_split_without_labels_is_refused():
    s = SegmentSampler(lambda seg: np.full(seg.length, -1), np.ones(8))
    with pytest.raises(ValueError, match="labelled"):
        s.probabilities(SEGS)


def test_shuffled_segments_uses_the_draw():
    rng = np.random.default_rng(1)
    plan = shuffled_segments({0: 12}, 2, 4, 4, rng, draw=lambda segs, r: [segs[1]] * 5)
    assert [len(b) for b in plan] == [2, 2, 1]
    assert {x for b in plan for x in b} == {Segment(0, 4, 4)}


def test_the_lstm_refuses_balanced_sampling():
    with pytest.raises(ConfigError, match="train.sampling"):
        build_config({"model": {"encoder": "lstm"}, "train": {"sampling": "sqrt"}})


def test_trainer_draws_rare_segments_more_often_and_balances_the_draw(small, tmp_path):
    def trainer(sampling: str) -> Trainer:
        cfg = config_for(small, "transformer", train={"epochs": 1, "sampling": sampling})
        prep = prepare(cfg)
        t = Trainer(cfg, prep.bank, prep.split.train, prep.split.val, RunFolder(tmp_path / sampling))
        t.setup(resume=False)
        return t

    uniform, balanced = trainer("uniform"), trainer("balanced")
    segs = [s for step in uniform._plan(1) for s in step if s]
    drawn = [s for step in balanced._plan(1) for s in step if s]
    assert len(drawn) == len(segs) and len(set(drawn)) < len(drawn)  # with replacement, as many
    assert set(drawn) <= set(segs)
    assert balanced._plan(3) == balanced._plan(3) and balanced._plan(2) != balanced._plan(3)

    def shares(plan_segs):
        y = np.concatenate([balanced._labels_of(s) for s in plan_segs])
        return np.bincount(y[y >= 0], minlength=8) / (y >= 0).sum()

    counts = balanced.sampler.expected_counts(segs)
    rare = int(np.argmin(np.where(shares(segs) > 0, shares(segs), np.inf)))
    assert counts[rare] / counts.sum() > shares(segs)[rare]  # the rarest class drawn more often
    np.testing.assert_allclose(balanced.criterion.weights.numpy(), class_weight_vector(counts, "balanced"), rtol=1e-6)
    w_uniform, w_balanced = uniform.criterion.weights.numpy(), balanced.criterion.weights.numpy()
    assert w_balanced.max() / w_balanced[w_balanced > 0].min() < w_uniform.max() / w_uniform[w_uniform > 0].min()
