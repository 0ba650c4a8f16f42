import numpy as np
from featurizer.media.timeline import Timeline, align_rows, fill_nearest, frame_edges
from featurizer.models.registry import Timing


def test_alignment_matches_hand_computation():
    # frames at 0, 0.1, 0.2 (intervals [-.05,.05), [.05,.15), [.15,.25)); rows every 40 ms
    ts = np.array([0.0, 0.1, 0.2])
    centres = np.array([0.00, 0.04, 0.08, 0.12, 0.16, 0.20, 0.24, 0.30])
    vals = np.arange(8, dtype=np.float32)[:, None] * np.array([[1.0, 10.0]], np.float32)
    out, present = align_rows(vals, centres, ts)
    # frame 0: rows 0,1 -> mean 0.5; frame 1: rows 2,3 -> 2.5; frame 2: rows 4,5,6 -> 5; row 7 outside
    np.testing.assert_allclose(out[:, 0], [0.5, 2.5, 5.0])
    np.testing.assert_allclose(out[:, 1], [5.0, 25.0, 50.0])
    assert present.all()


def test_frame_without_rows_takes_nearest_row_and_is_not_present():
    ts = np.arange(10) * 0.04
    centres = np.array([0.0, 0.05, 0.31])  # frames 0, 1 and 8 hold rows
    vals = np.array([[1.0], [2.0], [3.0]], np.float32)
    out, present = align_rows(vals, centres, ts)
    assert present.tolist() == [True, True, False, False, False, False, False, False, True, False]
    assert out[4, 0] == 2.0  # 0.16 is nearer 0.05 than 0.30
    assert out[6, 0] == 3.0  # 0.24 is nearer 0.31
    assert out[9, 0] == 3.0


def test_variable_frame_rate_edges_are_midpoints():
    ts = np.array([0.0, 0.03, 0.1, 0.12])
    e = frame_edges(ts)
    np.testing.assert_allclose(e, [-0.015, 0.015, 0.065, 0.11, 0.13])


def test_hop_timing_centres():
    t = Timing("hop", hop=0.01, window=0.025, offset=0.0125)
    np.testing.assert_allclose(t.centres(3), [0.0125, 0.0225, 0.0325])


def test_label_rows_past_the_video():
    tl = Timeline.from_video("x", np.array([0.0, 0.04, 0.08]), n_labels=5)
    assert tl.n == 5
    assert tl.frame_present.tolist() == [True, True, True, False, False]
    assert tl.video_index.tolist() == [0, 1, 2, 2, 2]
    np.testing.assert_allclose(tl.timestamps, [0, 0.04, 0.08, 0.12, 0.16])
    short = Timeline.from_video("x", np.array([0.0, 0.04, 0.08]), n_labels=2)
    assert short.n == 2 and short.frame_present.all()


def test_fill_nearest_uses_time():
    v = np.array([[1.0], [0.0], [0.0], [4.0]])
    out = fill_nearest(v, np.array([True, False, False, True]), np.array([0.0, 0.1, 0.9, 1.0]))
    assert out[:, 0].tolist() == [1.0, 1.0, 4.0, 4.0]
