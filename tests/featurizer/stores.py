"""Two stores compared array by array (tests of paths that must write what one local run writes)."""

from __future__ import annotations

import numpy as np
from featurizer.core.store import FeatureStore


def assert_same_store(a: str, b: str, attrs: bool = True) -> None:
    """Equal stores: tracks, timelines, and every feature's values, present mask and (with
    ``attrs``) attributes, but the time each was written."""
    sa, sb = FeatureStore(a, mode="r"), FeatureStore(b, mode="r")
    assert sa.tracks() == sb.tracks() and sa.tracks()
    for t in sa.tracks():
        np.testing.assert_array_equal(sa.timestamps(t), sb.timestamps(t))
        np.testing.assert_array_equal(sa.frame_present(t), sb.frame_present(t))
        assert sa.models(t) == sb.models(t) and sa.models(t), t
        for m in sa.models(t):
            fa, fb = sa.read_feature(t, m), sb.read_feature(t, m)
            np.testing.assert_array_equal(fa.values, fb.values)
            np.testing.assert_array_equal(fa.present, fb.present)
            if attrs:
                assert {k: v for k, v in fa.attrs.items() if k != "created"} == \
                       {k: v for k, v in fb.attrs.items() if k != "created"}, (t, m)
