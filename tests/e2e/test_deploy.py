"""A trained ensemble as a deliverable, through the CLIs and HTTP: runs -> `exprnet bundle` ->
(moved to another folder) -> `exprnet infer` on a video no run saw -> the same values as the
two-step path (`featurizer extract` + `exprnet ensemble --tracks`); `exprnet serve`'s
`/v1/expressions` answers what `infer` wrote; the Python API gives the same rows; a tampered
bundle is refused; bad videos are named and the rest complete."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from exprnet.cli import app as exprnet_app
from exprnet.deploy.outputs import read_csv
from featurizer.cli import app as featurizer_app
from featurizer.core.annotations import write_annotation
from featurizer.core.classes import EXPR_CLASSES
from featurizer.core.store import FeatureStore
from featurizer.demo import encode_video

from ..featurizer.face_clips import side_by_side, talking_head
from ..openapi_fuzz import fuzz
from ..speech import speak
from .conftest import FPS, MODELS, Corpus, label_runs, ok, runner

N = 40
SMOOTH = "box:3"
CSV_HEADER = "frame,time,expression,face," + ",".join(EXPR_CLASSES)


def _voice(line: str, n: int = N) -> np.ndarray:
    v = speak(line)[: int(n / FPS * 16_000)]
    return np.pad(v, (0, max(0, int(n / FPS * 16_000) - len(v))))


@pytest.fixture(scope="module")
def runs(corpus: Corpus, store: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("deploy-runs")
    ok(exprnet_app, "train", "--store", store, "--labels", corpus.labels, "--features", MODELS, "--encoder", "lstm",
       "--out", root / "lstm", "--d-model", "32", "--hidden", "32", "--segment", "16", "--set", "model.head=[32]",
       "--epochs", "2", "--device", "cpu", "--no-baseline")
    ok(exprnet_app, "baseline", "--store", store, "--labels", corpus.labels, "--features", MODELS,
       "--smooth", "box:4", "--out", root / "baseline")
    return root


@pytest.fixture(scope="module")
def heldout(tmp_path_factory) -> Path:
    """Videos no run was trained or validated on."""
    d = tmp_path_factory.mktemp("heldout")
    encode_video(d / "clip5.mp4", talking_head(N, "hopper", amplitude=0.5).frames, FPS,
                 _voice("Nobody told me about this new plan."))
    encode_video(d / "duo.mp4", side_by_side(N).frames, FPS, _voice("We both sit here and talk."))
    return d


@pytest.fixture(scope="module")
def bundle(runs: Path, store: Path, corpus: Corpus, tmp_path_factory) -> Path:
    made = tmp_path_factory.mktemp("made") / "bundle"
    out = ok(exprnet_app, "bundle", runs / "lstm", runs / "baseline", "--method", "vote", "--smooth", SMOOTH,
             "--store", store, "--labels", corpus.labels, "--out", made, "--device", "cpu")
    assert "2 member(s)" in out and "MODEL_CARD.md" in out
    moved = tmp_path_factory.mktemp("elsewhere") / "moved-bundle"
    shutil.move(made, moved)  # self-contained: nothing points back to where it was made
    return moved


@pytest.fixture(scope="module")
def truth(tmp_path_factory) -> Path:
    """Annotations of the held-out clip5 (to score it), nowhere near the training labels."""
    d = tmp_path_factory.mktemp("heldout-labels")
    write_annotation(d / "clip5.txt", label_runs(N, np.random.default_rng(5)))
    return d


@pytest.fixture(scope="module")
def inferred(bundle: Path, heldout: Path, corpus: Corpus, truth: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("infer")
    ok(exprnet_app, "infer", heldout, "--bundle", bundle, "--out", out, "--weights", f"hubert={corpus.hubert}",
       "--overlay", "--labels", truth)
    return out


def test_bundle_is_self_contained_and_says_what_it_needs(bundle: Path, corpus: Corpus):
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["format_version"] == 1 and manifest["classes"] == list(EXPR_CLASSES)
    assert [m["name"] for m in manifest["members"]] == ["lstm", "baseline"]
    assert not list(bundle.rglob("*.pt")) and not list(bundle.rglob("*.pkl"))  # safetensors, never a pickle
    assert set(manifest["files"]) >= {"recipe.json", "MODEL_CARD.md"}
    recipe = json.loads((bundle / "recipe.json").read_text())
    hub = next(f for f in recipe["features"] if f["name"] == "hubert")
    assert hub["attrs"]["weights_sha256"] == FeatureStore(corpus.root / "features.zarr", mode="r").read_feature(
        "clip1", "hubert").attrs["weights_sha256"]
    card = (bundle / "MODEL_CARD.md").read_text()
    for word in ("hubert", "egemaps", "validation", "lstm", "baseline", "Intended use", "licence"):
        assert word in card, word


def test_infer_equals_the_two_step_path(inferred: Path, heldout: Path, runs: Path, store: Path, corpus: Corpus,
                                        tmp_path: Path):
    got = read_csv(inferred / "clip5.csv")
    assert (inferred / "clip5.csv").read_text().splitlines()[0] == CSV_HEADER
    # the two-step path: featurizer extract into (a copy of) the training store, then the ensemble
    two = tmp_path / "two.zarr"
    shutil.copytree(store, two)
    ok(featurizer_app, "extract", heldout / "clip5.mp4", "--model", MODELS, "--weights", f"hubert={corpus.hubert}",
       "--out", two)
    ok(exprnet_app, "ensemble", runs / "lstm", runs / "baseline", "--method", "vote", "--smooth", SMOOTH,
       "--store", two, "--labels", corpus.labels, "--out", tmp_path / "ens", "--tracks", "clip5", "--device", "cpu")
    ref = np.load(tmp_path / "ens" / "probs" / "clip5.npy")
    probs = np.stack([got[c] for c in EXPR_CLASSES], 1)
    assert probs.shape == ref.shape == (N, 8)
    np.testing.assert_allclose(probs, ref, atol=1e-6)  # the CSV's 7 significant digits
    assert list(got["expression"]) == [EXPR_CLASSES[k] for k in ref.argmax(1)]
    np.testing.assert_array_equal(got["frame"], np.arange(1, N + 1))
    np.testing.assert_allclose(got["time"], FeatureStore(two, mode="r").timestamps("clip5"), atol=1e-6)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    assert set(got["face"]) <= {0, 1} and got["face"].mean() > 0.8
    sub = (inferred / "submission.txt").read_text().splitlines()
    assert sub[1].startswith("clip5/00001.jpg,") and len([s for s in sub if s.startswith("clip5/")]) == N


def test_infer_scores_the_labelled_tracks_as_sklearn_does(inferred: Path, truth: Path):
    from featurizer.core.annotations import read_annotation
    from sklearn.metrics import f1_score

    y = read_annotation(truth / "clip5.txt")
    p = np.array([EXPR_CLASSES.index(e) for e in read_csv(inferred / "clip5.csv")["expression"]])
    keep = y >= 0
    ref = f1_score(y[keep], p[keep], labels=list(range(8)), average="macro", zero_division=0)
    scores = json.loads((inferred / "scores.json").read_text())
    assert scores["f1"] == pytest.approx(ref, abs=1e-12) and list(scores["tracks"]) == ["clip5"]
    assert scores["labelled_frames"] == int(keep.sum())


def test_infer_writes_per_person_tracks_a_timeline_and_an_overlay(inferred: Path):
    for side in ("left", "right"):
        t = read_csv(inferred / f"duo_{side}.csv")
        assert len(t["frame"]) == N and t["face"].mean() > 0.8
    for track in ("clip5", "duo_left"):
        assert (inferred / f"{track}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with av.open(str(inferred / f"{track}.mp4")) as c:
            assert sum(1 for _ in c.decode(video=0)) == N


def test_http_answers_what_infer_wrote(bundle: Path, inferred: Path, heldout: Path, corpus: Corpus):
    from exprnet.deploy.serve import create_expressions_app
    from fastapi.testclient import TestClient

    app = create_expressions_app(bundle, {"hubert": str(corpus.hubert)}, "cpu")
    data = (heldout / "clip5.mp4").read_bytes()
    with TestClient(app) as client:
        r = client.post("/v1/expressions", files={"file": ("clip5.mp4", data)})
        assert r.status_code == 200, r.text
        doc = r.json()
        csv = client.post("/v1/expressions?format=csv", files={"file": ("clip5.mp4", data)})
        bad = client.post("/v1/expressions", files={"file": ("clip5.mp4", b"not a video at all" * 50)})
        schema = client.get("/openapi.json").json()
        models = client.get("/v1/models")
    assert csv.status_code == 200 and csv.text == (inferred / "clip5.csv").read_text()
    assert doc["bundle"] == json.loads((bundle / "bundle.json").read_text())["id"]
    (track,) = doc["tracks"]
    ref = read_csv(inferred / "clip5.csv")
    np.testing.assert_allclose(np.array(track["probabilities"]), np.stack([ref[c] for c in EXPR_CLASSES], 1),
                               atol=1e-6)
    assert track["expression"] == list(ref["expression"]) and track["frames"] == list(range(1, N + 1))
    assert bad.status_code in (415, 422) and "clip5.mp4" in bad.json()["detail"], bad.text
    assert "/v1/expressions" in schema["paths"] and "/v1/features" in schema["paths"]
    assert models.status_code == 200


def test_openapi_fuzz_of_expressions_finds_no_server_error(bundle: Path, heldout: Path, corpus: Corpus,
                                                           tmp_path: Path):
    """Schemathesis on `exprnet serve`'s app (tests/openapi_fuzz.py), bounded: POST /v1/expressions
    with valid requests (a real held-out clip uploaded) always answered 200 as documented, broken
    ones refused with a documented 4xx, never a 5xx."""
    from exprnet.deploy.serve import create_expressions_app

    app = create_expressions_app(bundle, {"hubert": str(corpus.hubert)}, "cpu", temp_dir=str(tmp_path),
                                 max_upload_mb=2, max_concurrency=1)
    seen = fuzz(app, (heldout / "clip5.mp4").read_bytes(), positive_examples=4, negative_examples=20,
                operations=("POST /v1/expressions",))
    assert seen[("POST /v1/expressions", "positive")] == {200}, seen
    assert all(400 <= s < 500 for s in seen[("POST /v1/expressions", "negative")]), seen
    # what it found first: a form field of /v1/features sent here is refused, naming what is taken
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        r = client.post("/v1/expressions", files={"file": ("clip5.mp4", b"x")}, data={"models": "hubert"})
    assert r.status_code == 422 and r.json()["hint"] == "accepted: file", r.text


def test_python_api_gives_the_same_rows(bundle: Path, inferred: Path, heldout: Path, corpus: Corpus):
    import exprnet

    b = exprnet.Bundle.load(bundle)
    (p,) = b.predict(heldout / "clip5.mp4", weights={"hubert": str(corpus.hubert)})
    ref = read_csv(inferred / "clip5.csv")
    np.testing.assert_allclose(p.probabilities, np.stack([ref[c] for c in EXPR_CLASSES], 1), atol=1e-6)
    assert p.expression == list(ref["expression"])
    assert list(p.to_pandas().columns) == CSV_HEADER.split(",")


def test_a_tampered_bundle_is_refused(bundle: Path, heldout: Path, corpus: Corpus, tmp_path: Path):
    bad = tmp_path / "bad"
    shutil.copytree(bundle, bad)
    weights = sorted(bad.glob("members/*/*.safetensors"))[0]
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 1
    weights.write_bytes(bytes(raw))
    r = runner.invoke(exprnet_app, ["infer", str(heldout / "clip5.mp4"), "--bundle", str(bad), "--out",
                                    str(tmp_path / "o"), "--weights", f"hubert={corpus.hubert}"])
    assert r.exit_code == 2, r.output
    assert weights.name in r.output and "sha256" in r.output
    assert not (tmp_path / "o" / "clip5.csv").exists()


def test_bad_videos_are_named_and_the_rest_complete(bundle: Path, heldout: Path, corpus: Corpus, tmp_path: Path):
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(heldout / "clip5.mp4", d / "good.mp4")
    (d / "empty.mp4").write_bytes(b"")
    (d / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    encode_video(d / "noface.mp4", [np.full((240, 320, 3), 90, np.uint8)] * N, FPS, _voice("Is anyone there?"))
    encode_video(d / "mute.mp4", talking_head(N, "astronaut").frames, FPS)  # no soundtrack
    out = tmp_path / "out"
    r = runner.invoke(exprnet_app, ["infer", str(d), "--bundle", str(bundle), "--out", str(out),
                                    "--weights", f"hubert={corpus.hubert}"])
    assert r.exit_code == 1, r.output
    text = " ".join(r.output.split())
    lines = [ln for ln in r.output.splitlines() if ln.startswith("failed")]
    for name in ("empty.mp4", "corrupt.mp4", "noface.mp4", "mute.mp4"):
        assert any(name in ln for ln in lines), f"{name} not named on one line:\n{r.output}"
    assert "no face" in text and "no audio" in text and "egemaps" in text
    assert read_csv(out / "good.csv")["frame"].tolist() == list(range(1, N + 1))
    assert not any((out / f"{n}.csv").exists() for n in ("empty", "corrupt", "noface", "mute"))


def test_members_trained_with_modality_dropout_take_a_video_without_audio(corpus: Corpus, store: Path,
                                                                          tmp_path: Path):
    """A warning and the visual path, with the audio features fed as training dropped them."""
    ok(exprnet_app, "train", "--store", store, "--labels", corpus.labels, "--features", MODELS, "--encoder", "lstm",
       "--out", tmp_path / "run", "--d-model", "16", "--hidden", "16", "--segment", "16", "--epochs", "1",
       "--set", "model.head=[16]", "--set", "data.modality_dropout=0.3", "--set", "data.present_flags=feature",
       "--device", "cpu", "--no-baseline")
    ok(exprnet_app, "bundle", tmp_path / "run", "--store", store, "--labels", corpus.labels, "--out",
       tmp_path / "b", "--device", "cpu")
    encode_video(tmp_path / "in" / "mute.mp4", talking_head(N, "astronaut").frames, FPS)
    r = runner.invoke(exprnet_app, ["infer", str(tmp_path / "in"), "--bundle", str(tmp_path / "b"), "--out",
                                    str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "no audio stream" in " ".join(r.output.split()) and "dropped" in r.output
    t = read_csv(tmp_path / "o" / "mute.csv")
    assert len(t["frame"]) == N and t["face"].mean() > 0.8


def test_the_recipe_records_how_often_faces_were_detected_and_infer_takes_detect_every(
        bundle: Path, inferred: Path, heldout: Path, corpus: Corpus, tmp_path: Path):
    import exprnet
    from featurizer.faces import DEFAULT_DETECT_EVERY

    recipe = json.loads((bundle / "recipe.json").read_text())
    assert recipe["detect_every"] == DEFAULT_DETECT_EVERY  # from the training store's faces provenance
    hog = next(f for f in recipe["features"] if f["name"] == "hog")
    assert hog["attrs"]["faces"]["detect_every"] == DEFAULT_DETECT_EVERY
    assert f"every {DEFAULT_DETECT_EVERY} frames" in (bundle / "MODEL_CARD.md").read_text()

    def faces_of(out: Path, track: str) -> dict:
        return FeatureStore(out / "features.zarr", mode="r").read_feature(track, "hog").attrs["faces"]

    assert faces_of(inferred, "clip5")["detect_every"] == DEFAULT_DETECT_EVERY  # the recipe's, by default
    out = tmp_path / "every"
    ok(exprnet_app, "infer", heldout / "clip5.mp4", "--bundle", bundle, "--out", out, "--weights",
       f"hubert={corpus.hubert}", "--detect-every", "1")
    assert faces_of(out, "clip5")["detect_every"] == 1
    got, ref = read_csv(out / "clip5.csv"), read_csv(inferred / "clip5.csv")
    assert got["frame"].tolist() == ref["frame"].tolist() and got["face"].tolist() == ref["face"].tolist()
    (p,) = exprnet.Bundle.load(bundle).predict(heldout / "clip5.mp4", weights={"hubert": str(corpus.hubert)},
                                               detect_every=1)
    np.testing.assert_allclose(p.probabilities, np.stack([got[c] for c in EXPR_CLASSES], 1), atol=1e-6)
    for bad, words in (("0", "the detector runs every N frames, N 1 or more"), ("1.5", "is not a whole number")):
        r = runner.invoke(exprnet_app, ["infer", str(heldout / "clip5.mp4"), "--bundle", str(bundle), "--out",
                                        str(tmp_path / "bad"), "--detect-every", bad])
        assert r.exit_code == 2, r.output
        (line,) = [ln for ln in r.output.splitlines() if ln.strip()]
        assert line.startswith(f"error: --detect-every {bad}: {words}"), line
        assert not (tmp_path / "bad").exists()
