"""Identity tracks: linking across gaps, one or two people named by position, spurious and
background faces dropped; then on real clips through the detector."""

import numpy as np
import pytest
from featurizer.errors import FaceError
from featurizer.faces import Detections, TrackRule, load_detector, track_faces, track_names
from featurizer.faces.scan import scan_video
from featurizer.faces.track import link, pick_track


def _det(*boxes, score=0.99):
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    lm = np.repeat(((b[:, :2] + b[:, 2:]) / 2)[:, None], 5, axis=1)
    return Detections(b, np.full(len(b), score, np.float32), lm)


def _box(cx, cy, s=40):
    return [cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2]


def test_a_face_missed_for_a_few_frames_keeps_its_track():
    dets = [_det(_box(100 + i, 80)) if i not in (10, 11, 12) else Detections.empty() for i in range(40)]
    tracks = track_faces(dets, TrackRule(max_gap=3))
    assert list(tracks) == [""]
    assert tracks[""].frames.tolist() == [i for i in range(40) if i not in (10, 11, 12)]
    assert len(link(dets, TrackRule(max_gap=3))) == 1
    assert len(link(dets, TrackRule(max_gap=2))) == 2  # a longer gap splits the tracklet ...
    assert list(track_faces(dets, TrackRule(max_gap=2))) == [""]  # ... but it is still one person


def test_two_people_are_named_left_and_right_by_position():
    # right person first in each frame's list; the left one leaves for 5 frames
    dets = [_det(_box(300, 90), _box(80 + i, 100)) if not 20 <= i < 25 else _det(_box(300, 90))
            for i in range(50)]
    tracks = track_faces(dets)
    assert set(tracks) == {"left", "right"}
    assert np.all(tracks["left"].boxes[:, 0] < 200) and np.all(tracks["right"].boxes[:, 0] > 200)
    assert len(tracks["left"]) == 45 and len(tracks["right"]) == 50
    named = track_names("10-60-1280x720", tracks)
    assert set(named) == {"10-60-1280x720_left", "10-60-1280x720_right"}
    assert pick_track(tracks, "left") is tracks["left"] and pick_track(tracks, None) is tracks["right"]


def test_a_person_who_reappears_after_a_long_gap_joins_the_nearer_side():
    dets = []
    for i in range(60):
        boxes = [_box(300, 90)]
        if i < 20 or i >= 40:  # off screen for 20 frames (> max_gap): a new tracklet
            boxes.append(_box(80, 100))
        dets.append(_det(*boxes))
    tracks = track_faces(dets, TrackRule(max_gap=5))
    assert len(tracks["left"]) == 40 and len(tracks["right"]) == 60


def test_spurious_and_background_faces_are_dropped():
    dets = []
    for i in range(50):
        boxes = [_box(150, 100, s=80)]
        if i in (7, 8):
            boxes.append(_box(30, 30, s=70))  # a 2-frame false detection
        boxes.append(_box(280, 40, s=16))  # a small face in the background, in every frame
        dets.append(_det(*boxes))
    tracks = track_faces(dets)
    assert list(tracks) == [""] and len(tracks[""]) == 50
    assert np.allclose(tracks[""].boxes, _box(150, 100, s=80))
    assert track_names("video2", tracks) == {"video2": tracks[""]}
    assert track_faces([Detections.empty()] * 5) == {}


def test_bad_gap_is_a_clear_error():
    with pytest.raises(FaceError, match=r"^--max-gap -1: "):
        TrackRule(max_gap=-1)


def test_real_clip_one_track_across_the_covered_frames(face_media):
    faces = scan_video(face_media["talk"], load_detector())
    assert list(faces.tracks) == [""]
    track = faces.tracks[""]
    hidden = face_media["hidden"]
    assert track.frames.tolist() == [i for i in range(40) if i not in hidden]
    truth = face_media["talk_truth"][track.frames]
    assert np.abs(track.landmarks - truth).max() < 4  # px, through H.264


def test_real_clip_two_people_each_get_their_own_track(face_media):
    faces = scan_video(face_media["pair"], load_detector())
    assert set(faces.tracks) == {"left", "right"}
    for side, who in (("left", "astronaut"), ("right", "hopper")):
        t = faces.tracks[side]
        assert len(t) == 30
        assert np.abs(t.landmarks - face_media["pair_truth"][who]).max() < 5
