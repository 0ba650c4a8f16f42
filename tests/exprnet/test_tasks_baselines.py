"""VA/AU baselines: as strong as a hand-written ridge / logistic regression with smoothing on the
same synthetic data, and their post-processing is blind to validation labels."""

import numpy as np
import pytest
from exprnet.tasks.baselines import (
    AULogistic,
    VARidge,
    au_baseline,
    out_of_fold,
    source_groups,
    standardize_track,
    va_baseline,
)
from scipy.ndimage import uniform_filter1d
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import f1_score

from .tasks_synth import make_tracks

TOL = 0.01
K = 6  # the hand-written smoothing half-width


def hand_std(x):
    return (x - x.mean(0)) / x.std(0)


def hand_ccc(x, y):
    mx, my = x.mean(), y.mean()
    return 2 * ((x - mx) * (y - my)).mean() / (x.var() + y.var() + (mx - my) ** 2)


@pytest.fixture(scope="module")
def corpus():
    names, xs, vas, aus = make_tracks(14, seed=3)
    return names[:10], xs[:10], vas[:10], aus[:10], xs[10:], vas[10:], aus[10:]


def test_standardize_track_matches_a_hand_computation():
    x = np.random.default_rng(0).normal(3, 2, (50, 4))
    x[:, 2] = 7.0  # constant: 0
    got = standardize_track(x)
    want = hand_std(x[:, [0, 1, 3]])
    assert np.allclose(got[:, [0, 1, 3]], want, atol=1e-5) and (got[:, 2] == 0).all()


def test_va_baseline_is_as_strong_as_a_hand_written_ridge_with_smoothing(corpus):
    names, txs, tva, _, vxs, vva, _ = corpus
    tx, vx = [standardize_track(x) for x in txs], [standardize_track(x) for x in vxs]
    fit = va_baseline(tx, tva, source_groups(names, 5), vx, vva)
    # by hand: sklearn's Ridge on standardised annotated frames, a box of 2K+1 frames, Lin's CCC
    X = np.concatenate([hand_std(x) for x in txs])
    Y = np.concatenate(tva)
    keep = ~np.isnan(Y).any(1)
    r = Ridge(alpha=1.0).fit(X[keep], Y[keep])
    P = np.concatenate([uniform_filter1d(r.predict(hand_std(x)), 2 * K + 1, axis=0, mode="nearest") for x in vxs])
    T = np.concatenate(vva)
    vk = ~np.isnan(T).any(1)
    hand = np.mean([hand_ccc(np.clip(P[vk, j], -1, 1), T[vk, j]) for j in range(2)])
    print(f"VA: baseline {fit.metrics['val_va']:.4f} (width {fit.post.width}), hand-written {hand:.4f}")
    assert fit.metrics["val_va"] >= hand - TOL
    assert fit.metrics["val_va"] > fit.metrics["val_va_raw"]  # smoothing helped and was chosen on training
    assert hand > 0.5  # the data carry VA: the comparison means something


def test_au_baseline_is_as_strong_as_a_hand_written_logistic_regression_with_smoothing(corpus):
    names, txs, _, tau, vxs, _, vau = corpus
    tx, vx = [standardize_track(x) for x in txs], [standardize_track(x) for x in vxs]
    fit = au_baseline(tx, tau, source_groups(names, 5), vx, vau)
    X = np.concatenate([hand_std(x) for x in txs])
    Y = np.concatenate(tau)
    T = np.concatenate(vau)
    f1s = []
    for j in range(12):
        keep = Y[:, j] >= 0
        lr = LogisticRegression(class_weight="balanced", max_iter=200).fit(X[keep], Y[keep, j])
        p = np.concatenate([uniform_filter1d(lr.predict_proba(hand_std(x))[:, 1], 2 * K + 1, mode="nearest")
                            for x in vxs])
        vk = T[:, j] >= 0
        f1s.append(f1_score(T[vk, j], p[vk] >= 0.5))
    hand = float(np.mean(f1s))
    print(f"AU: baseline {fit.metrics['val_au_f1']:.4f}, hand-written {hand:.4f}")
    assert fit.metrics["val_au_f1"] >= hand - TOL
    assert hand > 0.4


def test_post_processing_is_blind_to_validation_labels(corpus):
    names, txs, tva, tau, vxs, vva, vau = corpus
    tx, vx = [standardize_track(x) for x in txs], [standardize_track(x) for x in vxs]
    groups = source_groups(names, 5)
    rng = np.random.default_rng(9)
    other_va = [np.where(np.isnan(v), v, rng.uniform(-1, 1, v.shape)).astype(np.float32) for v in vva]
    other_au = [np.where(a >= 0, 1 - a, -1).astype(np.int8) for a in vau]
    a, b = va_baseline(tx, tva, groups, vx, vva), va_baseline(tx, tva, groups, vx, other_va)
    assert a.post.to_dict() == b.post.to_dict() and np.array_equal(a.model.coef, b.model.coef)
    assert a.metrics["val_va"] != b.metrics["val_va"]  # the validation labels were only scored
    c, d = au_baseline(tx, tau, groups, vx, vau), au_baseline(tx, tau, groups, vx, other_au)
    assert c.post.to_dict() == d.post.to_dict() and np.array_equal(c.model.coef, d.model.coef)
    assert c.metrics["val_au_f1"] != d.metrics["val_au_f1"]


def test_out_of_fold_predictions_come_from_models_that_did_not_see_the_track(corpus):
    names, txs, tva, _, _, _, _ = corpus
    tx = [standardize_track(x) for x in txs]
    groups = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    oof = out_of_fold(VARidge.fit, VARidge.predict, tx, tva, groups)
    held = VARidge.fit(tx[5:], tva[5:])
    assert np.array_equal(oof[0], held.predict(tx[0]))
    m = AULogistic.fit(tx, [np.zeros((len(x), 12), np.int8) for x in tx])  # one value only: a constant
    assert np.allclose(m.predict_proba(tx[0]), 1e-4, atol=1e-6)
    back = VARidge.from_arrays(held.to_arrays())
    assert np.array_equal(back.predict(tx[0]), held.predict(tx[0]))
