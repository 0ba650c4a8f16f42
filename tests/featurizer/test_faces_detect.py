"""Detectors: landmarks in the right order on real photographs, batching, one load per process,
safe from several threads, clear errors."""

import threading

import numpy as np
import pytest
from featurizer.errors import FaceError
from featurizer.faces import load_detector
from featurizer.faces.align import box_landmarks

from .face_clips import LANDMARKS, photo


@pytest.mark.parametrize("name", ["retinaface", "mtcnn"])
def test_landmarks_found_in_order_on_real_photographs(name):
    det = load_detector(name)
    for who in ("astronaut", "hopper"):
        (found,) = det.detect([photo(who)])
        assert len(found) == 1
        assert found.scores[0] > 0.95
        lm = found.landmarks[0]
        assert np.abs(lm - LANDMARKS[who]).max() < 8, (who, lm)  # left eye first, ... (the reference order)
        x1, y1, x2, y2 = found.boxes[0]
        assert (lm[:, 0] > x1).all() and (lm[:, 0] < x2).all() and (lm[:, 1] > y1).all() and (lm[:, 1] < y2).all()


def test_left_means_image_left_also_in_a_mirrored_face():
    img = photo("astronaut")
    det = load_detector("retinaface")
    (a,), (b,) = det.detect([img]), det.detect([np.ascontiguousarray(img[:, ::-1])])
    w = img.shape[1]
    la, lb = a.landmarks[0], b.landmarks[0]
    # eyes and mouth corners: image-left first in both; the mirror swaps which eye that is
    for lm in (la, lb):
        assert lm[0, 0] < lm[2, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]
        assert max(lm[0, 1], lm[1, 1]) < lm[2, 1] < min(lm[3, 1], lm[4, 1])
    mirrored = np.stack([w - lb[:, 0], lb[:, 1]], 1)[[1, 0, 2, 4, 3]]
    assert np.abs(mirrored - la).max() < 4


def test_a_batch_gives_what_single_frames_give():
    det = load_detector("retinaface")
    frames = [photo("astronaut"), photo("astronaut")[:, ::-1].copy(), np.zeros((512, 512, 3), np.uint8)]
    batch = det.detect(frames)
    assert [len(d) for d in batch] == [1, 1, 0]
    for f, got in zip(frames, batch, strict=True):
        (one,) = det.detect([f])
        np.testing.assert_allclose(got.landmarks, one.landmarks, atol=1e-3)
        np.testing.assert_allclose(got.boxes, one.boxes, atol=1e-3)


def test_weights_load_once_and_threads_share_them():
    assert load_detector("retinaface") is load_detector("retinaface")
    img = photo("hopper")
    for name in ("retinaface", "haar"):
        det = load_detector(name)
        want = det.detect([img])[0]
        got, errors = [], []

        def run(det=det, got=got, errors=errors):
            try:
                for _ in range(3):
                    got.append(det.detect([img])[0])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and len(got) == 12
        for g in got:
            np.testing.assert_allclose(g.landmarks, want.landmarks, atol=1e-3)


def test_haar_finds_the_face_and_places_landmarks_in_its_box():
    (found,) = load_detector("haar").detect([photo("astronaut")])
    assert len(found) >= 1
    k = int(np.argmax(found.boxes[:, 2] - found.boxes[:, 0]))
    np.testing.assert_allclose(found.landmarks[k], box_landmarks(found.boxes[k:k + 1])[0], rtol=1e-5)
    assert np.abs(found.landmarks[k] - LANDMARKS["astronaut"]).max() < 12  # close, without roll
    assert found.scores[k] == 1.0


def test_bad_detector_options_are_one_line_errors():
    with pytest.raises(FaceError, match=r"^--detector dlib: unknown face detector \(use one of retinaface, mtcnn, haar\)$"):
        load_detector("dlib")
    with pytest.raises(FaceError, match=r"^--threshold 1.5: .*\(e.g. --threshold 0.8\)$"):
        load_detector("retinaface", threshold=1.5)
