"""Ensemble combiners and smoothing on hand-made probabilities."""

import numpy as np
from exprnet.data.splits import track_groups
from exprnet.ensemble.combine import (
    cross_validated,
    fit_class_bias,
    fit_combiner,
    fit_weights,
    greedy_select,
    vote,
    weighted_mean,
)
from exprnet.postprocess.smoothing import choose_k, smooth
from exprnet.reports.metrics import macro_f1
from sklearn.metrics import f1_score


def onehot(idx, c=8, hi=0.6):
    p = np.full((len(idx), c), (1 - hi) / (c - 1))
    p[np.arange(len(idx)), idx] = hi
    return p


def test_vote_majority_and_tie_break_by_mean_probability():
    a = onehot([0, 1, 2])
    b = onehot([0, 1, 3])
    c = onehot([0, 2, 3], hi=0.9)
    assert vote(np.stack([a, b, c])).tolist() == [0, 1, 3]
    # two members, one frame: they disagree (class 1 vs class 2): the more confident one wins
    x = np.zeros((1, 8))
    x[0, 1], x[0, 2] = 0.55, 0.45
    z = np.zeros((1, 8))
    z[0, 2], z[0, 1] = 0.60, 0.30
    assert vote(np.stack([x, z])).tolist() == [2]  # one vote each; mean: class1 0.425 < class2 0.525
    x[0, 1], x[0, 2] = 0.9, 0.1  # mean: class1 0.6 > class2 0.35
    assert vote(np.stack([x, z])).tolist() == [1]


def test_greedy_selection_by_hand():
    y = np.array([0, 1, 2, 3])
    good = onehot([0, 1, 2, 0])  # wrong on the last frame only
    fixer = np.full((4, 8), 1 / 8)  # unsure, except confident and right where `good` is wrong
    fixer[3] = onehot([3], hi=0.9)[0]
    bad = onehot([5, 5, 5, 5])
    P = np.stack([good, fixer, bad])
    counts = greedy_select(P, y)
    # by hand: `good` alone is best (3/4 frames); the mean of good and fixer gets all 4 right
    # (frame 3: class 0 (0.6 + 0.014) / 2 = 0.31 < class 3 (0.057 + 0.9) / 2 = 0.48); that is the
    # best reachable score: 4 classes perfect, the 4 absent ones count 0 -> 0.5
    assert macro_f1(y, ((good + fixer) / 2).argmax(1)) == 0.5
    assert counts.tolist() == [1, 1, 0]
    assert macro_f1(y, weighted_mean(P, counts).argmax(1)) >= macro_f1(y, good.argmax(1))


def test_fit_weights_discounts_a_useless_member():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 8, 2000)
    informative = onehot(np.where(rng.random(2000) < 0.7, y, rng.integers(0, 8, 2000)))
    noise = rng.dirichlet(np.ones(8), 2000)
    w = fit_weights(np.stack([informative, noise]), y)
    assert w[0] > 0.85 and abs(w.sum() - 1) < 1e-9


def test_metric_is_sklearns():
    rng = np.random.default_rng(1)
    y = rng.integers(-1, 8, 500)
    p = rng.integers(0, 8, 500)
    keep = y >= 0
    want = f1_score(y[keep], p[keep], average="macro", labels=range(8), zero_division=0)
    assert abs(macro_f1(y, p) - want) < 1e-12


def test_cross_validated_estimate_is_not_optimistic_on_average():
    """Fitting class biases on noise: in-sample F1 rises, the cross-validated one does not."""
    gaps = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        tracks = [f"v{i}" for i in range(8)]
        labels = {t: rng.integers(0, 8, 150) for t in tracks}
        probs = {t: rng.dirichlet(np.ones(8), 150) for t in tracks}  # no signal at all
        y = np.concatenate([labels[t] for t in tracks])
        Q = np.concatenate([probs[t] for t in tracks])
        b = fit_class_bias(Q, y)
        in_sample = macro_f1(y, (np.log(Q) + b).argmax(1))

        def fit_apply(train, test, tracks=tracks, labels=labels, probs=probs):
            yt = np.concatenate([labels[tracks[i]] for i in train])
            bt = fit_class_bias(np.concatenate([probs[tracks[i]] for i in train]), yt)
            return (np.log(np.concatenate([probs[tracks[i]] for i in test])) + bt).argmax(1)

        cv = cross_validated(fit_apply, tracks, labels, 4, lambda t: t)
        gaps.append(in_sample - cv)
    assert np.mean(gaps) > 0


def test_track_groups_keep_sources_together():
    tracks = ["a_left", "a_right", "b", "c_left", "c_right", "d"]
    folds = track_groups(tracks, 3, lambda t: t.split("_")[0])
    for f in folds:
        names = {tracks[i].split("_")[0] for i in f}
        for other in folds:
            if other is not f:
                assert not names & {tracks[i].split("_")[0] for i in other}
    assert sorted(i for f in folds for i in f) == list(range(6))


def test_combiner_methods_run_and_greedy_fits():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 8, 400)
    P = np.stack([onehot(np.where(rng.random(400) < q, y, rng.integers(0, 8, 400))) for q in (0.8, 0.5, 0.1)])
    for method in ("vote", "mean", "weighted", "greedy"):
        comb = fit_combiner(method, P, y, class_bias=method == "weighted")
        Q = comb.combine(P)
        assert Q.shape == (400, 8) and np.allclose(Q.sum(1), 1)
        assert macro_f1(y, Q.argmax(1)) >= macro_f1(y, P[2].argmax(1))


def test_box_smoothing_by_hand_and_k_choice():
    p = np.zeros((5, 2))
    p[:, 0] = [1, 0, 1, 0, 1]
    p[:, 1] = 1 - p[:, 0]
    s = smooth(p, 1, "box")
    np.testing.assert_allclose(s[:, 0], [2 / 3, 2 / 3, 1 / 3, 2 / 3, 2 / 3])  # nearest-edge padding
    np.testing.assert_allclose(smooth(p, 1, "median")[:, 0], [1, 1, 0, 1, 1])
    # flickering predictions over long runs: smoothing helps and k > 0 is chosen
    rng = np.random.default_rng(0)
    y = np.repeat(rng.integers(0, 8, 20), 30)
    noisy = onehot(np.where(rng.random(600) < 0.55, y, rng.integers(0, 8, 600)))
    k, scores = choose_k([noisy], [y])
    assert k > 0 and scores[k] > scores[0] + 0.1
