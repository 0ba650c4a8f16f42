"""Task registry and post-processing: choices are the best on what they are given (checked by brute
force with scipy/sklearn), and round-trip through their dicts."""

import numpy as np
import pytest
from exprnet.tasks.metrics import ccc
from exprnet.tasks.post import THRESHOLDS, AUPost, VAPost, fit_au_post, fit_va_post
from exprnet.tasks.registry import TASKS, get_task
from scipy.ndimage import uniform_filter1d
from sklearn.metrics import f1_score


def test_registry_describes_the_three_tasks_and_scores_like_sklearn():
    assert {k: (t.n_outputs, t.primary) for k, t in TASKS.items()} == {"expr": (8, "f1"), "va": (2, "va"),
                                                                       "au": (12, "au_f1")}
    assert TASKS["va"].outputs == ("valence", "arousal") and TASKS["au"].outputs[-1] == "AU26"
    rng = np.random.default_rng(0)
    y, p = rng.integers(-1, 8, 300), rng.integers(0, 8, 300)
    s = TASKS["expr"].score(p, y)
    keep = y >= 0
    assert s["f1"] == pytest.approx(f1_score(y[keep], p[keep], average="macro", labels=range(8), zero_division=0))
    va = rng.uniform(-1, 1, (50, 2))
    va[3] = np.nan
    assert TASKS["va"].annotated(va).sum() == 49
    assert TASKS["va"].primary in TASKS["va"].score(va * 0.5, va)
    assert list(TASKS["va"].val_scores(va * 0.5, va)) == ["val_va", "val_ccc_valence", "val_ccc_arousal"]
    assert list(TASKS["au"].val_scores(np.zeros((3, 12)), np.zeros((3, 12))))[:2] == ["val_au_f1", "val_f1_AU1"]
    au = np.zeros((4, 12), np.int8)
    au[1] = -1
    assert TASKS["au"].annotated(au).tolist() == [True, False, True, True]
    assert TASKS["expr"].annotated(np.array([0, -1, 3])).tolist() == [True, False, True]
    with pytest.raises(Exception, match="choose from expr, va, au"):
        get_task("pose")


def test_va_width_is_the_best_pooled_ccc_by_brute_force():
    rng = np.random.default_rng(1)
    trues, preds = [], []
    for n in (200, 150, 90):
        t = np.tanh(uniform_filter1d(rng.normal(size=(n, 2)), 31, axis=0) * 4).astype(np.float32)
        preds.append((t + rng.normal(0, 0.5, (n, 2))).astype(np.float32))
        t[rng.random(n) < 0.1] = np.nan
        trues.append(t)
    cands = (0, 2, 4, 8, 16)
    post = fit_va_post(preds, trues, "box", cands)
    y = np.concatenate(trues)
    keep = ~np.isnan(y).any(1)
    brute = {}
    for k in cands:
        p = np.clip(np.concatenate([uniform_filter1d(q, 2 * k + 1, axis=0, mode="nearest") for q in preds]), -1, 1)
        brute[k] = np.mean([ccc(p[keep, j], y[keep, j]) for j in range(2)])
    assert post.width == max(brute, key=brute.get) and post.width > 0
    for k in cands:
        assert post.scores[k] == pytest.approx(brute[k], abs=1e-5)
    assert VAPost.from_dict(post.to_dict()) == post
    out = post.apply(preds)
    assert all(o.shape == p.shape and o.dtype == np.float32 for o, p in zip(out, preds, strict=True))


def test_au_thresholds_and_widths_are_the_best_f1_by_brute_force():
    rng = np.random.default_rng(2)
    trues, probs = [], []
    for n in (300, 200):
        y = (uniform_filter1d(rng.normal(size=(n, 12)), 15, axis=0) > 0.15).astype(np.int8)
        shift = np.linspace(-0.3, 0.3, 12)  # each AU's probabilities sit elsewhere: thresholds differ
        probs.append(np.clip(0.35 * y + 0.3 + shift + rng.normal(0, 0.25, (n, 12)), 0, 1).astype(np.float32))
        y[rng.random(n) < 0.1] = -1
        trues.append(y)
    cands = (0, 3, 6)
    post = fit_au_post(probs, trues, "box", cands)
    y = np.concatenate(trues)
    for j in range(12):
        keep = y[:, j] >= 0
        best = 0.0
        for k in cands:
            p = np.concatenate([uniform_filter1d(q, 2 * k + 1, axis=0, mode="nearest") for q in probs])
            for t in THRESHOLDS:
                best = max(best, f1_score(y[keep, j], p[keep, j] >= t, zero_division=0))
        assert post.train_f1[j] == pytest.approx(best, abs=1e-9)
    assert post.thresholds[0] < post.thresholds[-1]  # AU1 probabilities sit low, AU26 high: thresholds follow
    assert (post.widths > 0).any()
    back = AUPost.from_dict(post.to_dict())
    assert np.array_equal(back.widths, post.widths) and np.array_equal(back.thresholds, post.thresholds)
    out = back.apply(probs)
    assert out[0].dtype == np.int8 and set(np.unique(out[0])) <= {0, 1}
