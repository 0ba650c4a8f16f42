"""Smoothing against a NumPy reference, within tracks only; the width spec; auto on training tracks."""

import numpy as np
import pytest
from exprnet.errors import ConfigError
from exprnet.postprocess.smoothing import (
    SmoothSpec,
    choose_k,
    parse_spec,
    resolve,
    smooth,
    smooth_tracks,
)


def reference(p: np.ndarray, k: int, kind: str) -> np.ndarray:
    """Loop over frames: window of +-k with the track's first/last row repeated beyond its ends."""
    n = len(p)
    idx = lambda t: np.clip(np.arange(t - k, t + k + 1), 0, n - 1)  # noqa: E731
    if kind == "box":
        return np.stack([p[idx(t)].mean(0) for t in range(n)])
    if kind == "gauss":
        sigma = k / 2
        w = np.exp(-0.5 * (np.arange(-k, k + 1) / sigma) ** 2)
        w /= w.sum()
        return np.stack([(p[idx(t)] * w[:, None]).sum(0) for t in range(n)])
    med = np.stack([np.median(p[idx(t)], axis=0) for t in range(n)])
    return med / med.sum(1, keepdims=True)


@pytest.mark.parametrize("kind", ["box", "gauss", "median"])
@pytest.mark.parametrize("k", [1, 3, 8])
def test_matches_numpy_reference(kind, k):
    rng = np.random.default_rng(k)
    p = rng.dirichlet(np.ones(8), size=37)
    np.testing.assert_allclose(smooth(p, k, kind), reference(p, k, kind), atol=1e-6)


@pytest.mark.parametrize("kind", ["box", "gauss", "median"])
def test_never_smooths_across_tracks(kind):
    rng = np.random.default_rng(0)
    a = np.tile(np.eye(8)[2], (20, 1))  # track a: all class 2
    b = rng.dirichlet(np.ones(8), size=15)
    got = smooth_tracks([a, b], 6, kind)
    np.testing.assert_allclose(got[0], a, atol=1e-6)  # nothing of b leaks into a's last frames
    np.testing.assert_allclose(got[1], reference(b, 6, kind), atol=1e-6)
    if kind != "median":  # (a median over a window that is mostly track a stays a's value)
        joined = smooth(np.concatenate([a, b]), 6, kind)  # what smoothing the concatenation would do
        assert not np.allclose(joined[:20], a)


def test_width_zero_none_and_short_tracks():
    p = np.random.default_rng(1).dirichlet(np.ones(8), size=3)
    for kind in ("box", "gauss", "median", "none"):
        np.testing.assert_array_equal(smooth(p, 0, kind), p)
    np.testing.assert_array_equal(smooth(p, 5, "none"), p)
    np.testing.assert_allclose(smooth(p, 50, "box"), reference(p, 50, "box"), atol=1e-6)
    assert smooth(np.zeros((0, 8)), 4, "box").shape == (0, 8)


def test_parse_spec():
    assert parse_spec("none") == SmoothSpec("none", 0)
    assert parse_spec("box") == SmoothSpec("box", None) and parse_spec("box").auto
    assert parse_spec("gauss:auto") == SmoothSpec("gauss", None)
    assert parse_spec("median:12") == SmoothSpec("median", 12)
    for bad in ("boxy", "box:-3", "box:1.5", "gauss:wide"):
        with pytest.raises(ConfigError, match="--smooth"):
            parse_spec(bad)
    opt = parse_spec("box:optimistic", optimistic_ok=True)
    assert opt == SmoothSpec("box", None, optimistic=True) and not opt.auto
    with pytest.raises(ConfigError, match="only `exprnet ensemble` fits a width on the validation labels"):
        parse_spec("box:optimistic")


def test_auto_width_uses_only_the_tracks_given():
    rng = np.random.default_rng(0)
    y = np.repeat(rng.integers(0, 8, 30), 40)
    noisy = np.eye(8)[np.where(rng.random(len(y)) < 0.4, y, rng.integers(0, 8, len(y)))]
    spec, scores = resolve(SmoothSpec("box", None), [noisy], [y])
    k, direct = choose_k([noisy], [y], "box")
    assert spec == SmoothSpec("box", k) and scores == direct and k > 0
    assert resolve(SmoothSpec("box", 3), None, None) == (SmoothSpec("box", 3), {})


def test_a_fixed_smoothing_round_trips_as_a_processor():
    from exprnet.postprocess.processor import processor_from_dict

    rng = np.random.default_rng(1)
    p = rng.random((50, 8))
    spec = SmoothSpec("gauss", 6)
    back = processor_from_dict(spec.to_dict())
    out = back.apply(p)
    expect = smooth(p, 6, "gauss")
    np.testing.assert_allclose(out.probs, expect / expect.sum(1, keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(out.labels, out.probs.argmax(1))
    with pytest.raises(ConfigError, match="unknown post-processing kind 'wobble'"):
        processor_from_dict({"kind": "wobble"})
    with pytest.raises(ValueError, match="choose the width"):
        SmoothSpec("box", None).apply(p)
