"""Ensembles, submission files and plots of VA and AU."""

import numpy as np
import pytest
from exprnet.errors import DataError
from exprnet.prediction.predict import write_submission
from exprnet.tasks.combine import combine_va, fit_au_ensemble, fit_va_weights, mean_probs, simplex
from exprnet.tasks.metrics import au_scores, ccc, va_scores
from exprnet.tasks.plots import plot_au_f1, plot_va_scatter, plot_va_series
from exprnet.tasks.post import fit_au_post
from exprnet.tasks.submission import (
    read_au_submission,
    read_va_submission,
    write_au_submission,
    write_va_submission,
)
from PIL import Image


def va_tracks(seed=0, lengths=(120, 80, 60)):
    rng = np.random.default_rng(seed)
    trues = []
    for n in lengths:
        t = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        t[rng.random(n) < 0.1] = np.nan
        trues.append(t)
    return rng, trues


def test_simplex_grid():
    g = simplex(3, 10)
    assert g.shape == (66, 3) and np.allclose(g.sum(1), 1) and (g >= 0).all()
    big = simplex(12, 10)
    assert len(big) == 4368 and np.allclose(big.sum(1), 1) and len(np.unique(big, axis=0)) == len(big)


def test_va_weights_are_the_best_on_the_grid_and_never_below_the_best_member():
    rng, trues = va_tracks()
    clean = [np.nan_to_num(t) for t in trues]
    good = [(c + rng.normal(0, 0.3, c.shape)).astype(np.float32) for c in clean]
    ok = [(c + rng.normal(0, 0.6, c.shape)).astype(np.float32) for c in clean]
    bad = [rng.uniform(-1, 1, c.shape).astype(np.float32) for c in clean]
    members = [good, ok, bad]
    w = fit_va_weights(members, trues)
    assert w.shape == (3, 2) and np.allclose(w.sum(0), 1)
    y = np.concatenate(trues)
    keep = ~np.isnan(y).any(1)
    for d in range(2):
        def score(wd, d=d):
            return ccc(sum(wd[m] * np.concatenate(members[m])[keep, d] for m in range(3)), y[keep, d])
        brute = max(score(g) for g in simplex(3, 10))
        assert score(w[:, d]) == pytest.approx(brute, abs=1e-12)
    comb = np.concatenate([combine_va([g, o, b], w) for g, o, b in zip(good, ok, bad, strict=True)])
    best_member = max(va_scores(np.concatenate(m), y)["va"] for m in members)
    assert va_scores(comb, y)["va"] >= best_member
    assert w[2].max() < w[0].min()  # noise gets less weight than the good member
    assert np.allclose(combine_va([good[0], bad[0]]), (good[0] + bad[0]) / 2, atol=1e-6)
    with pytest.raises(DataError, match="same tracks"):
        fit_va_weights([good, good[:2]], trues)


def test_au_ensemble_thresholds_the_mean_probability():
    rng = np.random.default_rng(1)
    trues = [(rng.random((n, 12)) < 0.3).astype(np.int8) for n in (100, 70)]
    a = [np.clip(0.5 * t + rng.random(t.shape) * 0.6, 0, 1).astype(np.float32) for t in trues]
    b = [np.clip(0.3 * t + rng.random(t.shape) * 0.7, 0, 1).astype(np.float32) for t in trues]
    post = fit_au_ensemble([a, b], trues)
    direct = fit_au_post([(x + y) / 2 for x, y in zip(a, b, strict=True)], trues)
    assert post.to_dict() == direct.to_dict()
    assert np.allclose(mean_probs([a[0], b[0]]), (a[0] + b[0]) / 2)


def test_va_submission_reads_back_and_scores_exactly_as_the_arrays(tmp_path):
    rng, trues = va_tracks(2)
    preds = [np.clip(np.nan_to_num(t) * 0.7 + rng.normal(0, 0.3, t.shape), -1, 1).astype(np.float32) for t in trues]
    names = ["12-24_left", "video3", "v9"]
    n = write_va_submission(tmp_path / "submission_va.txt", zip(names, preds, strict=True))
    assert n == sum(len(p) for p in preds)
    lines = (tmp_path / "submission_va.txt").read_text().splitlines()
    assert lines[0] == "image_location,valence,arousal" and lines[1].startswith("12-24_left/00001.jpg,")
    back = read_va_submission(tmp_path / "submission_va.txt")
    assert list(back) == names
    for name, p in zip(names, preds, strict=True):
        assert np.array_equal(back[name], p)
    y = np.concatenate(trues)
    assert va_scores(np.concatenate([back[t] for t in names]), y) == va_scores(np.concatenate(preds), y)
    # image_location is EXPR's, line for line
    write_submission(tmp_path / "submission.txt", [(t, np.zeros(len(p), int)) for t, p in zip(names, preds, strict=True)])
    expr = (tmp_path / "submission.txt").read_text().splitlines()[1:]
    assert [ln.split(",")[0] for ln in expr] == [ln.split(",")[0] for ln in lines[1:]]
    with pytest.raises(DataError, match="NaN"):
        write_va_submission(tmp_path / "x.txt", [("t", np.full((2, 2), np.nan))])


def test_au_submission_reads_back_and_scores_exactly_as_the_arrays(tmp_path):
    rng = np.random.default_rng(3)
    trues = [(rng.random((n, 12)) < 0.3).astype(np.int8) for n in (50, 30)]
    trues[0][:5] = -1
    preds = [np.where(rng.random(t.shape) < 0.8, np.maximum(t, 0), 1 - np.maximum(t, 0)).astype(np.int8)
             for t in trues]
    write_au_submission(tmp_path / "submission_au.txt", zip(["a", "b"], preds, strict=True))
    lines = (tmp_path / "submission_au.txt").read_text().splitlines()
    assert lines[0] == "image_location,AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26"
    assert lines[1] == "a/00001.jpg," + ",".join(str(v) for v in preds[0][0])
    back = read_au_submission(tmp_path / "submission_au.txt")
    y = np.concatenate(trues)
    assert au_scores(np.concatenate([back["a"], back["b"]]), y) == au_scores(np.concatenate(preds), y)
    with pytest.raises(DataError, match="0/1"):
        write_au_submission(tmp_path / "x.txt", [("t", np.full((2, 12), 0.4))])
    (tmp_path / "bad.txt").write_text(lines[0] + "\na/00002.jpg," + ",".join(["0"] * 12) + "\n")
    with pytest.raises(DataError, match="line 2: expected frame 00001.jpg") as e:
        read_au_submission(tmp_path / "bad.txt")
    assert "\n" not in str(e.value)


def test_plots_write_pngs(tmp_path):
    rng, trues = va_tracks(4)
    pred = np.clip(np.nan_to_num(trues[0]) + rng.normal(0, 0.2, trues[0].shape), -1, 1)
    plot_va_scatter(pred, trues[0], tmp_path / "va_scatter.png")
    plot_va_series(pred, trues[0], tmp_path / "va_series.png", "12-24_left")
    t = (rng.random((40, 12)) < 0.4).astype(np.int8)
    plot_au_f1({f"val_{k}": v for k, v in au_scores(t, t).items()}, tmp_path / "au_f1.png")
    for name, w in (("va_scatter.png", 400), ("va_series.png", 600), ("au_f1.png", 400)):
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG" and im.width > w
    with pytest.raises(DataError, match="f1_AU1"):
        plot_au_f1({"au_f1": 0.5}, tmp_path / "x.png")
