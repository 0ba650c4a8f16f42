"""A real browser on `exprnet serve`'s page: Debian's chromium (/usr/bin/chromium, `make test`
installs it) driven by Playwright, its fake camera and microphone fed from a clip of a real face
(scikit-image's astronaut, moving like a talking head, and eSpeak speech), against a running
server (uvicorn in a thread) with the starter bundle (`exprnet bundle --pretrained fer`, offline).
The page uploads a clip and shows its per-frame expressions in sync with the video, and the Live
tab streams the camera over /v1/live and shows the expressions as they are decided."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path(os.environ.get("EXPRNET_CHROMIUM", "/usr/bin/chromium"))  # `make test` sets it
FPS = 25
SECONDS = 3.0


def write_y4m(path: Path, frames: list[np.ndarray], fps: int) -> Path:
    """RGB frames as a YUV4MPEG2 file (4:2:0), what Chromium's fake camera plays in a loop."""
    import cv2

    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def write_wav(path: Path, x: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    from exprnet.deploy.starter import make_starter_bundle
    from featurizer.demo.portrait import portrait_frames, write_portrait
    from featurizer.demo.speech import speech_with_pauses

    root = tmp_path_factory.mktemp("web")
    clip, spoken = write_portrait(root / "astronaut.mp4", seconds=SECONDS, fps=FPS)
    assert spoken
    camera = write_y4m(root / "camera.y4m", portrait_frames(int(SECONDS * FPS), FPS, (640, 480), 80.0), FPS)
    voice, _ = speech_with_pauses(["I am very happy today."], [0.3], lead=0.2)
    mic = write_wav(root / "mic.wav", voice, 16_000)
    return {"bundle": make_starter_bundle("fer", root / "B"), "clip": clip, "camera": camera, "mic": mic}


def _serve(bundle):
    """`exprnet serve --bundle` (key page-key) in a thread on a free port; yields its URL."""
    import uvicorn
    from exprnet.deploy.serve import create_expressions_app

    app = create_expressions_app(bundle, {}, "cpu", api_key="page-key", max_concurrency=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 120
    while not srv.started:
        assert th.is_alive() and time.monotonic() < deadline, "exprnet serve did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(30)


@pytest.fixture(scope="module")
def server(media):
    yield from _serve(media["bundle"])


@pytest.fixture(scope="module")
def browser(media):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), f"{CHROMIUM}: missing; `make test` installs Debian's chromium (apt-get install -y chromium), or set EXPRNET_CHROMIUM"
    # Chromium puts its profile's singleton socket under TMPDIR; a unix socket path holds at most
    # 107 bytes, so a long TMPDIR (CI runs under one) kills it at launch: Playwright's driver and
    # the browser get a short one, the rest of the suite keeps its own.
    short = tempfile.mkdtemp(prefix="pw-", dir="/tmp" if os.path.isdir("/tmp") else None)
    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = short
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=str(CHROMIUM), env={**os.environ, "TMPDIR": short}, args=[
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={media['camera']}",
                f"--use-file-for-fake-audio-capture={media['mic']}",
                "--autoplay-policy=no-user-gesture-required"])
            _restore_tmpdir(saved)
            yield b
            b.close()
    finally:
        _restore_tmpdir(saved)
        shutil.rmtree(short, ignore_errors=True)


def _restore_tmpdir(saved: str | None) -> None:
    if saved is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = saved


def until(page, js: str, timeout: float = 60.0) -> None:
    """Wait for a JavaScript condition (polled with evaluate: the page's CSP forbids Playwright's
    wait_for_function, which evaluates strings inside the page)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(js):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {js}"
        time.sleep(0.1)


def open_page(browser, server: str):
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone's screen
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((server, "blob:", "data:")) else None)
    page.goto(server + "/")
    page.wait_for_selector("#key-box:not([hidden])")  # the server needs a key: the page asks for it
    page.fill("#api-key", "page-key")
    page.dispatch_event("#api-key", "change")
    return page, problems, outside


def test_page_uploads_a_clip_and_plays_it_with_its_expressions(browser, server, media):
    import httpx
    from exprnet.deploy.outputs import read_csv

    page, problems, outside = open_page(browser, server)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # fits a phone
    page.set_input_files("#file", str(media["clip"]))
    page.wait_for_selector("#clip-result:not([hidden])", timeout=180_000)
    doc = page.evaluate("window.exprnet.clip")
    (track,) = doc["tracks"]
    assert len(track["frames"]) == int(SECONDS * FPS)
    assert np.mean(np.array(track["expression"]) == "Happiness") >= 0.8  # the astronaut smiles
    assert page.locator("#clip-timeline").get_attribute("data-frames") == str(int(SECONDS * FPS))
    assert page.locator("#clip-probs li").count() == 8

    # seek: the shown frame, expression and probabilities are the ones at that time
    page.evaluate("document.getElementById('clip-video').currentTime = 1.5")
    until(page, "document.getElementById('clip-frame').textContent.startsWith('frame 38 ')")
    assert page.text_content("#clip-expression") == track["expression"][37]
    shown = [float(v) for v in page.locator("#clip-probs .val").all_text_contents()]
    np.testing.assert_allclose(shown, track["probabilities"][37], atol=0.006)
    # play: the frame shown follows the video
    page.evaluate("document.getElementById('clip-video').currentTime = 0; document.getElementById('clip-video').play()")
    until(page, "document.getElementById('clip-video').currentTime > 1.0", 30)
    until(page, "Number(document.getElementById('clip-frame').textContent.split(' ')[1]) > 20")

    # the CSV download: the server's CSV for the same clip (format=csv), value for value
    with page.expect_download() as dl:
        page.click("#download-csv")
    assert dl.value.suggested_filename == "astronaut.csv"
    mine = read_csv(dl.value.path())
    r = httpx.post(server + "/v1/expressions?format=csv", headers={"X-API-Key": "page-key"},
                   files={"file": ("astronaut.mp4", media["clip"].read_bytes())}, timeout=300)
    assert r.status_code == 200, r.text
    theirs_path = media["clip"].with_suffix(".server.csv")
    theirs_path.write_text(r.text)
    theirs = read_csv(theirs_path)
    assert list(mine) == list(theirs)
    for k in theirs:
        if k == "expression":
            assert list(mine[k]) == list(theirs[k])
        else:
            np.testing.assert_allclose(mine[k], theirs[k], rtol=1e-6, atol=1e-7)
    with page.expect_download() as dl:
        page.click("#download-json")
    assert dl.value.suggested_filename == "astronaut.json"
    assert not problems, problems
    assert not outside, f"the page fetched from elsewhere: {outside}"


def test_live_tab_streams_the_camera_and_shows_live_expressions(browser, server, media):
    page, problems, outside = open_page(browser, server)
    page.click("#tab-live")
    page.select_option("#live-fps", "10")
    page.click("#live-start")
    until(page, "window.exprnet.live.rows.length >= 30", 180)
    live = page.evaluate("window.exprnet.live")
    classes = live["classes"]
    assert classes == ["Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other"]
    rows = live["rows"]
    assert all(r["expression"] in classes for r in rows)
    for r in rows:
        assert abs(sum(r[c] for c in classes) - 1.0) < 1e-4 and r["latency_ms"] >= 0
    times = [r["time"] for r in rows]
    assert times == sorted(times) and times[-1] > 2.0  # seconds of camera, in order
    assert np.mean([r["expression"] == "Happiness" for r in rows]) >= 0.5, [r["expression"] for r in rows]
    assert page.text_content("#live-expression") in classes
    assert "latency" in page.text_content("#live-info")
    page.click("#live-stop")
    until(page, "window.exprnet.live.summary !== null", 60)
    summary = page.evaluate("window.exprnet.live.summary")
    print(f"live from the fake camera: {len(rows)} rows seen, summary {summary}")
    assert summary["frames"] >= 30 and summary["decided"] >= len(rows)
    until(page, "document.getElementById('live-start').disabled === false")
    assert "ended" in page.text_content("#live-status")
    assert not live["errors"], live["errors"]
    assert not problems, problems
    assert not outside, f"the page fetched from elsewhere: {outside}"


@pytest.fixture(scope="module")
def tasks_server(media, tmp_path_factory):
    """The page on a multi-task bundle (EXPR, valence-arousal, action units; audio features)."""
    from ..tasks_bundle import small_multitask_bundle

    yield from _serve(small_multitask_bundle(tmp_path_factory.mktemp("web-tasks")))


def _va_text(v: float, a: float) -> str:
    f = lambda x: ("+" if x >= 0 else "") + f"{x:.2f}"  # noqa: E731
    return f"valence {f(v)} · arousal {f(a)}"


def test_page_shows_valence_arousal_and_action_units_in_both_tabs(browser, tasks_server, media):
    import httpx
    from exprnet.deploy.outputs import read_csv

    page, problems, outside = open_page(browser, tasks_server)
    page.set_input_files("#file", str(media["clip"]))
    page.wait_for_selector("#clip-result:not([hidden])", timeout=180_000)
    doc = page.evaluate("window.exprnet.clip")
    (track,) = doc["tracks"]
    page.evaluate("document.getElementById('clip-video').currentTime = 1.5")
    until(page, "document.getElementById('clip-frame').textContent.startsWith('frame 38 ')")
    assert page.is_visible("#clip-va") and page.is_visible("#clip-aus")
    assert page.text_content("#clip-va") == _va_text(track["valence"][37], track["arousal"][37])
    active = [a for a, on in zip(doc["action_units"], track["au"][37], strict=True) if on]
    assert page.text_content("#clip-aus") == "action units: " + (" ".join(active) or "none active")
    with page.expect_download() as dl:  # the CSV: the server's, VA and AU columns included
        page.click("#download-csv")
    mine = read_csv(dl.value.path())
    r = httpx.post(tasks_server + "/v1/expressions?format=csv", headers={"X-API-Key": "page-key"},
                   files={"file": ("astronaut.mp4", media["clip"].read_bytes())}, timeout=300)
    path = media["clip"].with_suffix(".tasks.csv")
    path.write_text(r.text)
    theirs = read_csv(path)
    assert list(mine) == list(theirs) and "valence" in theirs and "AU12" in theirs
    for k in theirs:
        if k == "expression":
            assert list(mine[k]) == list(theirs[k])
        else:
            np.testing.assert_allclose(mine[k], theirs[k], rtol=1e-6, atol=1e-7)

    page.click("#tab-live")
    page.click("#live-start")
    until(page, "window.exprnet.live.rows.length >= 10", 180)
    live = page.evaluate("window.exprnet.live")
    assert live["ready"]["tasks"] == ["expr", "va", "au"]
    last = live["rows"][-1]
    assert all(-1 <= r["valence"] <= 1 and r["AU12"] in (0, 1) for r in live["rows"])
    assert page.is_visible("#live-va") and page.is_visible("#live-aus")
    assert page.text_content("#live-va").startswith("valence ") and "action units:" in page.text_content("#live-aus")
    page.click("#live-stop")
    until(page, "window.exprnet.live.summary !== null", 60)
    assert last["frame"] >= 10 and not live["errors"], live["errors"]
    assert not problems, problems
    assert not outside, f"the page fetched from elsewhere: {outside}"
