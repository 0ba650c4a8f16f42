"""Five-point alignment: the transform against scikit-image's Umeyama estimate, and crops that come
back the same after the face was moved by a known similarity transform."""

import numpy as np
import pytest
from featurizer.faces import ARCFACE_112, align_face, load_detector, similarity_matrix
from featurizer.faces.align import BOX_POINTS, box_landmarks

from .face_clips import LANDMARKS, apply, photo, similarity


def _skimage_similarity(src, dst):
    from skimage.transform import SimilarityTransform

    if hasattr(SimilarityTransform, "from_estimate"):
        return SimilarityTransform.from_estimate(src, dst).params[:2]
    t = SimilarityTransform()
    assert t.estimate(src, dst)
    return t.params[:2]


def test_transform_is_the_least_squares_similarity():
    rng = np.random.default_rng(0)
    for _ in range(20):
        src = ARCFACE_112 * rng.uniform(0.5, 3) + rng.uniform(-200, 200, 2) + rng.normal(0, 3, (5, 2))
        np.testing.assert_allclose(similarity_matrix(src), _skimage_similarity(src, ARCFACE_112), atol=1e-5)
    np.testing.assert_allclose(similarity_matrix(ARCFACE_112), [[1, 0, 0], [0, 1, 0]], atol=1e-9)
    # the crop size scales the template
    np.testing.assert_allclose(similarity_matrix(ARCFACE_112, 224), [[2, 0, 0], [0, 2, 0]], atol=1e-9)


def _mad(a, b):
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def _moved(angle, scale, shift):
    import cv2

    img, lms = photo("astronaut"), LANDMARKS["astronaut"]
    m = similarity(angle, scale, lms.mean(0), lms.mean(0) + np.array(shift))
    return img, lms, m, cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR)


@pytest.mark.parametrize("angle,scale,shift", [(25, 0.7, (40, -30)), (-15, 1.4, (-60, 20)),
                                               (-40, 1.0, (0, 0)), (0, 0.5, (10, 0))])
def test_true_landmarks_moved_with_the_face_give_the_same_crop(angle, scale, shift):
    img, lms, m, moved = _moved(angle, scale, shift)
    # only interpolation differs (more when the face was shrunk)
    assert _mad(align_face(moved, apply(m, lms)), align_face(img, lms)) < (6 if scale < 1 else 3)


@pytest.mark.parametrize("detector,angle,scale,shift", [
    ("retinaface", 25, 0.7, (40, -30)), ("retinaface", -15, 1.4, (-60, 20)), ("retinaface", 10, 1.0, (0, 0)),
    ("mtcnn", -20, 0.8, (30, 10)),  # MTCNN is slow on CPU: one case
])
def test_detected_landmarks_bring_a_moved_face_back_to_the_same_crop(detector, angle, scale, shift):
    img, lms, m, moved = _moved(angle, scale, shift)
    det = load_detector(detector)
    ref = align_face(img, det.detect([img])[0].landmarks[0])
    (found,) = det.detect([moved])
    assert len(found) == 1
    assert np.abs(found.landmarks[0] - apply(m, lms)).max() < 5 * scale  # px in the moved photo
    other = _mad(align_face(photo("hopper"), LANDMARKS["hopper"]), ref)  # another person: ~65
    assert _mad(align_face(moved, found.landmarks[0]), ref) < min(20, other / 3)


def test_crop_puts_the_landmarks_on_the_template():
    img, lms = photo("hopper"), LANDMARKS["hopper"]
    crop = align_face(img, lms)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    m = similarity_matrix(lms)
    assert np.abs(apply(m, lms) - ARCFACE_112).max() < 4  # a similarity fits real faces to ~px


def test_box_landmarks_sit_at_fixed_fractions_of_the_box():
    boxes = np.array([[10, 20, 110, 140], [0, 0, 50, 50]], np.float32)
    lm = box_landmarks(boxes)
    assert lm.shape == (2, 5, 2)
    np.testing.assert_allclose(lm[0], [10, 20] + BOX_POINTS * [100, 120], rtol=1e-6)
    assert (lm[:, 0, 0] < lm[:, 1, 0]).all() and (lm[:, 3, 0] < lm[:, 4, 0]).all()
