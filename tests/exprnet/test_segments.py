import numpy as np
import pytest
from exprnet.data.segments import (
    inference_plan,
    overlapping_segments,
    shuffled_segments,
    stream_plan,
    track_segments,
)

LENGTHS = {0: 100, 1: 33, 2: 64, 3: 5, 4: 250}


@pytest.mark.parametrize("rng", [None, np.random.default_rng(0)])
def test_stream_plan_walks_each_track_once_in_order(rng):
    plan = stream_plan(LENGTHS, batch_size=3, seg=32, rng=rng)
    assert all(len(step) == 3 for step in plan)
    seen: dict[int, list] = {}
    for step in plan:
        for slot, s in enumerate(step):
            if s is not None:
                seen.setdefault(s.track, []).append((slot, s))
    for t, n in LENGTHS.items():
        slots = {slot for slot, _ in seen[t]}
        assert len(slots) == 1, "a track stays in one batch slot"
        segs = [s for _, s in seen[t]]
        assert [s.start for s in segs] == list(range(0, n, 32))
        assert sum(s.length for s in segs) == n
        assert segs[0].first and not any(s.first for s in segs[1:])


def test_stream_plan_never_exceeds_track_count():
    plan = stream_plan({0: 10, 1: 10}, batch_size=8, seg=4)
    assert all(len(step) == 2 for step in plan)


def test_overlapping_segments_cover_every_frame():
    for n in (1, 31, 32, 33, 100, 257):
        segs = overlapping_segments(0, n, seg=32, stride=16)
        cover = np.zeros(n, int)
        for s in segs:
            assert s.start + s.length <= n
            cover[s.start:s.start + s.length] += 1
        assert (cover >= 1).all()
        if n > 32:
            assert all(s.length == 32 for s in segs)


def test_track_segments_with_overlap_end_at_track_end():
    segs = track_segments(0, 100, seg=32, stride=16)
    assert segs[-1].start + segs[-1].length == 100


def test_shuffled_segments_keep_filter_and_batches():
    rng = np.random.default_rng(0)
    batches = shuffled_segments(LENGTHS, 4, 32, 32, rng, keep=lambda s: s.track != 3)
    segs = [s for b in batches for s in b]
    assert all(s.track != 3 for s in segs)
    assert sum(s.length for s in segs) == sum(n for t, n in LENGTHS.items() if t != 3)
    assert all(len(b) <= 4 for b in batches)


def test_inference_plan_is_deterministic():
    assert inference_plan(LENGTHS, 4, 32, 16) == inference_plan(LENGTHS, 4, 32, 16)


def _by_track(plan):
    out: dict[int, list] = {}
    for step in plan:
        for s in step:
            if s is not None:
                out.setdefault(s.track, []).append(s)
    return out


@pytest.mark.parametrize("stateful", [True, False])
def test_jitter_moves_the_grid_and_still_covers_each_frame_once(stateful):
    grids = []
    for epoch in range(6):
        rng = np.random.default_rng([0, epoch])
        plan = (stream_plan(LENGTHS, 3, 32, rng, jitter=True) if stateful
                else shuffled_segments(LENGTHS, 4, 32, 32, rng, jitter=True))
        by_track = _by_track(plan)
        for t, n in LENGTHS.items():
            segs = sorted(by_track[t], key=lambda s: s.start)
            cover = np.zeros(n, int)
            for s in segs:
                assert 0 < s.length <= 32 and s.start + s.length <= n
                cover[s.start:s.start + s.length] += 1
            assert (cover == 1).all(), f"track {t}: every frame once per epoch"
            assert segs[0].first and not any(s.first for s in segs[1:])  # state resets at track start only
        grids.append(tuple(s.start for s in sorted(by_track[4], key=lambda s: s.start)))
    assert len(set(grids)) > 1, "the phase changes from epoch to epoch"
    assert all(g[1] - 0 <= 32 for g in grids)  # the head segment is shorter than one segment


def test_jitter_off_keeps_the_fixed_grid():
    a = shuffled_segments(LENGTHS, 4, 32, 32, np.random.default_rng(1))
    b = shuffled_segments(LENGTHS, 4, 32, 32, np.random.default_rng(1), jitter=False)
    assert a == b
    assert all(s.start % 32 == 0 for step in a for s in step)


def test_jitter_with_overlapping_segments_ends_at_track_end():
    segs = track_segments(0, 100, seg=32, stride=16, phase=7)
    assert segs[0].start == 0 and segs[0].length == 7 and segs[0].first
    assert [s.start for s in segs[1:]][:2] == [7, 23]
    assert segs[-1].start + segs[-1].length == 100
