"""Faces followed between detections (``FaceTracker``, ``scan_video(detect_every=N)``) on clips of
real photographs moving by known transforms: landmarks as close to the truth as per-frame
detection, identities kept when two faces cross or one leaves and returns, the detector run again
where a face is lost; ``detect_every=1`` is exactly the per-frame detection of before."""

import cv2
import numpy as np
import pytest
from featurizer.demo import encode_video
from featurizer.errors import FaceError
from featurizer.faces import (
    DEFAULT_DETECT_EVERY,
    FaceTracker,
    align_face,
    check_detect_every,
    load_detector,
    track_faces,
)
from featurizer.faces.flow import propagate
from featurizer.faces.scan import indexed_frames, scan_video
from featurizer.faces.track import link
from featurizer.media.decode import probe_video

from .face_clips import LANDMARKS, apply, crossing, moving_people, photo, similarity


def _nme(found, truth):
    iod = np.linalg.norm(truth[:, 1] - truth[:, 0], axis=1)
    return float((np.linalg.norm(found - truth, axis=2).mean(1) / iod).mean())


def _people(found, clip):
    """track id -> {frame: the true person nearest to its landmarks} over the frames fed."""
    out: dict[int, dict[int, str]] = {}
    for i, frame in enumerate(found):
        for face in frame.faces:
            d = {who: np.linalg.norm(face.landmarks.mean(0) - c[i]) for who, c in clip.centres.items()
                 if not np.isnan(c[i, 0])}
            out.setdefault(face.track, {})[i] = min(d, key=d.get)
    return out


def _feed(clip, detect_every, **kw):
    tracker = FaceTracker(load_detector(), detect_every, **kw)
    return tracker, [tracker.step(f, i / 25) for i, f in enumerate(clip.frames)]


@pytest.fixture(scope="module")
def crossed():
    return crossing(48)


def test_flow_carries_landmarks_by_a_known_motion():
    img, lms = photo("astronaut"), LANDMARKS["astronaut"]
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    m = similarity(2.5, 1.04, lms.mean(0), lms.mean(0) + [4.6, -2.3])
    moved = cv2.warpAffine(grey, m, grey.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    box = np.array([170, 60, 280, 180], np.float32)
    got, new_box = propagate(grey, moved, lms, box)
    assert np.abs(got - apply(m, lms)).max() < 0.5  # px, against the transform itself
    np.testing.assert_allclose((new_box[:2] + new_box[2:]) / 2, apply(m, [(box[:2] + box[2:]) / 2])[0], atol=0.5)
    covered = moved.copy()
    covered[40:200, 150:300] = 120  # a hand over the face: the flow loses it
    assert propagate(grey, covered, lms, box) is None


def test_followed_landmarks_are_as_close_to_the_truth_as_per_frame_detection(face_media):
    det, video, truth = load_detector(), face_media["talk"], face_media["talk_truth"]
    every, followed = scan_video(video, det, detect_every=1), scan_video(video, det, detect_every=10)
    assert list(followed.tracks) == list(every.tracks) == [""]
    a, b = every.tracks[""], followed.tracks[""]
    assert b.frames.tolist() == a.frames.tolist() == [i for i in range(40) if i not in face_media["hidden"]]
    assert np.abs(b.landmarks - truth[b.frames]).max() < 4  # px through H.264, as detection (test_faces_track)
    assert _nme(b.landmarks, truth[b.frames]) <= _nme(a.landmarks, truth[a.frames]) + 0.005
    assert np.abs(b.landmarks - a.landmarks).max() < 4
    assert followed.detect_every == 10 and every.detector_runs == 40
    assert followed.detector_runs <= 10  # 0, 10 .. 13 (covered, then found again), 23, 33, and a few spare


def test_a_lost_face_is_detected_again_in_the_next_frames(face_media):
    frames = [f for _, f in indexed_frames(face_media["talk"], probe_video(face_media["talk"]).timestamps)]
    tracker = FaceTracker(load_detector(), 4)
    found = [tracker.step(f) for f in frames]
    hidden = sorted(face_media["hidden"])  # 10, 11, 12: off the schedule (0, 4, 8, ...)
    assert [found[i].detected for i in (0, 4, 8)] == [True] * 3
    assert [found[i].detected for i in (9, *hidden, 13)] == [False, True, True, True, True]  # lost at 10
    assert [len(found[i].faces) for i in (9, *hidden, 13)] == [1, 0, 0, 0, 1]
    assert found[9].faces[0].track == found[13].faces[0].track  # 3 frames away < max_gap: the same face
    assert not found[14].detected and found[14].faces[0].track == found[9].faces[0].track


def test_identities_are_kept_when_two_faces_cross(crossed):
    tracker, found = _feed(crossed, 10)
    people = _people(found, crossed)
    assert len(people) == 2 and sorted({p for ps in people.values() for p in set(ps.values())}) == ["astronaut", "hopper"]
    for frames in people.values():
        assert len(set(frames.values())) == 1  # never swapped
        assert sorted(frames) == list(range(48))  # followed in every frame
    per_frame = _people(_feed(crossed, 1)[1], crossed)
    assert sorted(map(frozenset, (p.items() for p in people.values()))) == \
        sorted(map(frozenset, (p.items() for p in per_frame.values())))
    assert tracker.detector_runs < 48  # the detector runs every frame only while the faces touch
    for truth_of, frames in people.items():
        who = next(iter(frames.values()))
        truth = crossed.landmarks[who]
        ok = [i for i in range(48) if not np.isnan(truth[i, 0, 0])]
        lm = np.stack([next(f.landmarks for f in found[i].faces if f.track == truth_of) for i in ok])
        assert _nme(lm, truth[ok]) < 0.1


def test_tracker_crops_are_the_aligned_faces(crossed):
    _, found = _feed(crossed, 5)
    for i in (0, 3, 20):
        for face in found[i].faces:
            np.testing.assert_array_equal(face.crop, align_face(crossed.frames[i], face.landmarks))


def _away(n: int, gone: range):
    w, h = 640, 320
    return moving_people(n, {"astronaut": lambda i: (w * 0.25 + 10 * np.sin(i / 6), h / 2),
                             "hopper": lambda i: None if i in gone else (w * 0.72 + 8 * np.sin(i / 5), h / 2 + 5)},
                         (w, h), 80)


def test_a_face_that_leaves_and_returns_keeps_its_identity():
    clip = _away(40, range(14, 20))  # away 6 frames, under max_gap (10)
    _, found = _feed(clip, 10)
    people = _people(found, clip)
    assert sorted(set(p.values()) for p in people.values()) == [{"astronaut"}, {"hopper"}]
    hopper = next(k for k, p in people.items() if set(p.values()) == {"hopper"})
    assert sorted(people[hopper]) == [i for i in range(40) if i not in range(14, 20)]
    assert all(found[i].detected for i in range(14, 21))  # searched for while it was away


def test_one_who_returns_after_a_long_gap_is_named_as_before(tmp_path):
    clip = _away(60, range(15, 35))  # away 20 frames: a new track, named by position
    video = encode_video(tmp_path / "away.mp4", clip.frames, 25)
    det = load_detector()
    for n in (1, 10):
        faces = scan_video(video, det, detect_every=n)
        assert set(faces.tracks) == {"left", "right"}
        assert np.abs(faces.tracks["left"].landmarks - clip.landmarks["astronaut"][faces.tracks["left"].frames]).max() < 5
        right = faces.tracks["right"]
        assert right.frames.tolist() == [i for i in range(60) if i not in range(15, 35)]
        assert np.abs(right.landmarks - clip.landmarks["hopper"][right.frames]).max() < 5


def test_detect_every_1_links_as_per_frame_linking(crossed):
    det = load_detector()
    tracklets = link([det.detect([f])[0] for f in crossed.frames])
    _, found = _feed(crossed, 1)
    ids: dict[int, list[int]] = {}
    for i, frame in enumerate(found):
        assert frame.detected
        for face in frame.faces:
            ids.setdefault(face.track, []).append(i)
    assert sorted(ids.values()) == sorted(t.frames for t in tracklets)


def test_detect_every_1_is_per_frame_detection_exactly(face_media):
    """The oracle: every frame detected in batches as before tracking existed, then linked and named."""
    det, video = load_detector(), face_media["pair"]
    frames = list(indexed_frames(video, probe_video(video).timestamps))
    dets = []
    for b in range(0, len(frames), det.batch_size):
        dets += det.detect([f for _, f in frames[b:b + det.batch_size]])
    want = track_faces(dets)
    got = scan_video(video, det, detect_every=1)
    assert set(got.tracks) == set(want) == {"left", "right"}
    for k in want:
        for field in ("frames", "boxes", "scores", "landmarks"):
            np.testing.assert_array_equal(getattr(got.tracks[k], field), getattr(want[k], field))


def test_bad_input_is_a_one_line_error():
    assert check_detect_every("7") == 7 == check_detect_every(np.int64(7)) and DEFAULT_DETECT_EVERY >= 1
    for bad, words in ((0, "N 1 or more"), (-3, "N 1 or more"), ("2.5", "not a whole number"),
                       (2.5, "not a whole number"), ("x", "not a whole number"), (True, "not a whole number")):
        with pytest.raises(FaceError, match=f"^--detect-every {bad}: .*{words}.*--detect-every 1 to detect every"):
            check_detect_every(bad)
    with pytest.raises(FaceError, match=r"^detect_every=0: "):
        check_detect_every(0, "detect_every")
    with pytest.raises(FaceError, match="--detect-every 0"):
        FaceTracker(load_detector(), 0)
    tracker = FaceTracker(load_detector(), 5)
    tracker.step(photo("astronaut"), 1.0)
    with pytest.raises(FaceError, match=r"^frame at 0.96 s: comes after the frame at 1 s \(feed frames in "):
        tracker.step(photo("astronaut"), 0.96)
    with pytest.raises(FaceError, match=r"is not an RGB uint8 image"):
        tracker.step(np.zeros((10, 10), np.uint8))
    assert tracker.step(photo("astronaut"), 1.04).index == 1  # still usable
