"""VA and AU metrics against independent computations: Lin's CCC written out, sklearn's F1."""

import numpy as np
import pytest
from exprnet.errors import DataError
from exprnet.tasks.metrics import au_f1, au_scores, ccc, va_scores
from exprnet.tasks.names import AU_NAMES
from sklearn.metrics import f1_score


def lin_ccc(x, y):
    """Lin (1989), written out with plain sums."""
    n = len(x)
    mx = sum(x) / n
    my = sum(y) / n
    sx = sum((a - mx) ** 2 for a in x) / n
    sy = sum((b - my) ** 2 for b in y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / n
    return 2 * sxy / (sx + sy + (mx - my) ** 2)


def test_ccc_matches_the_formula_and_its_known_values():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert ccc(x, y) == pytest.approx(lin_ccc(list(x), list(y)), abs=1e-12)
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x - x.mean(), x.mean() - x) == pytest.approx(-1.0)
    # a shift or a scale is penalised, unlike Pearson's r
    assert ccc(x, x + 1.0) == pytest.approx(lin_ccc(list(x), list(x + 1.0)))
    assert ccc(x, x + 1.0) < 0.9
    assert ccc([], []) == 0.0
    assert ccc([0.3, 0.3], [0.3, 0.3]) == 0.0


def test_va_scores_pool_frames_over_tracks_and_skip_nan_rows():
    rng = np.random.default_rng(1)
    tracks = []
    for n in (30, 5, 60):
        t = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        p = (0.6 * t + rng.normal(0, 0.3, (n, 2)) + rng.normal(0, 0.3)).astype(np.float32)
        t[rng.random(n) < 0.2] = np.nan
        p[np.isnan(t).any(1)] = 9.0  # predictions on unannotated rows must not count
        tracks.append((p, t))
    pred = np.concatenate([p for p, _ in tracks])
    true = np.concatenate([t for _, t in tracks])
    s = va_scores(pred, true)
    keep = ~np.isnan(true).any(1)
    cv = lin_ccc(list(pred[keep, 0].astype(float)), list(true[keep, 0].astype(float)))
    ca = lin_ccc(list(pred[keep, 1].astype(float)), list(true[keep, 1].astype(float)))
    assert s["ccc_valence"] == pytest.approx(cv, abs=1e-9)
    assert s["ccc_arousal"] == pytest.approx(ca, abs=1e-9)
    assert s["va"] == pytest.approx((cv + ca) / 2, abs=1e-9)
    assert set(s) == {"va", "ccc_valence", "ccc_arousal"}
    per_track = np.mean([lin_ccc(list(p[~np.isnan(t).any(1), 0].astype(float)),
                                 list(t[~np.isnan(t).any(1), 0].astype(float))) for p, t in tracks])
    assert abs(per_track - cv) > 1e-3  # pooled is not the mean of per-track CCCs


def test_va_scores_refuse_bad_shapes_and_missing_predictions():
    with pytest.raises(DataError, match=r"\(n, 2\)"):
        va_scores(np.zeros((3, 2)), np.zeros((4, 2)))
    t = np.zeros((3, 2))
    p = np.array([[0, 0], [np.nan, 0], [0, 0]])
    with pytest.raises(DataError, match="NaN") as e:
        va_scores(p, t)
    assert "\n" not in str(e.value)


def test_au_scores_match_sklearn_per_au_with_masked_rows_and_cells():
    rng = np.random.default_rng(2)
    n = 400
    true = (rng.random((n, 12)) < rng.uniform(0.05, 0.6, 12)).astype(np.int8)
    pred = np.where(rng.random((n, 12)) < 0.8, true, 1 - true).astype(np.int8)
    true[rng.random(n) < 0.25] = -1  # unannotated rows
    true[rng.random(n) < 0.05, 3] = -1  # and a few single cells
    true[:, 11] = np.where(true[:, 11] >= 0, 0, -1)  # an AU never present
    pred[:, 11] = 0
    s = au_scores(pred, true)
    want = []
    for j in range(12):
        keep = true[:, j] >= 0
        want.append(f1_score(true[keep, j], pred[keep, j], zero_division=0))
    for j, name in enumerate(AU_NAMES):
        assert s[f"f1_{name}"] == pytest.approx(want[j], abs=1e-12)
    assert s["au_f1"] == pytest.approx(np.mean(want), abs=1e-12)
    assert s["f1_AU26"] == 0.0
    assert len(s) == 13 and list(s)[0] == "au_f1"


def test_au_f1_refuses_probabilities():
    with pytest.raises(DataError, match="0/1"):
        au_f1(np.full((2, 12), 0.7), np.zeros((2, 12), np.int8))
