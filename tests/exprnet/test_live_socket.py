"""`/v1/live` on `exprnet serve --bundle` (Starlette's TestClient, and uvicorn for a client that
stops reading), with the starter bundle on a real face (the astronaut clip's frames as JPEG):
the protocol carries exactly what the engine decides; every bad message gets one error line
naming it and the connection goes on; the key is checked before any work; the session cap; a
client that stops reading is disconnected; the page is served without the key, from the package."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from exprnet.deploy.livesocket import LiveSettings

FPS = 25
N = 30


@pytest.fixture(scope="module")
def starter(tmp_path_factory) -> Path:
    from exprnet.deploy.starter import make_starter_bundle

    return make_starter_bundle("fer", tmp_path_factory.mktemp("starter") / "B")


@pytest.fixture(scope="module")
def jpegs() -> list[bytes]:
    from featurizer.demo.portrait import portrait_frames
    from PIL import Image

    out = []
    for rgb in portrait_frames(N, FPS):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def app_for(starter: Path, **live):
    from exprnet.deploy.serve import create_expressions_app

    return create_expressions_app(starter, {}, "cpu", api_key="k3y", live=LiveSettings(**live))


def frame(t: float, jpeg: bytes) -> str:
    return json.dumps({"type": "frame", "t": t, "jpeg": base64.b64encode(jpeg).decode()})


def audio(t: float, x: np.ndarray, rate: int = 16000) -> str:
    return json.dumps({"type": "audio", "t": t, "rate": rate, "pcm": base64.b64encode(x.astype("<f4").tobytes()).decode()})


def until_closed(ws) -> tuple[list[dict], dict]:
    """Every message up to the close, and the close."""
    from starlette.websockets import WebSocketDisconnect

    msgs = []
    while True:
        try:
            m = ws.receive()
        except WebSocketDisconnect as e:
            return msgs, {"code": e.code, "reason": e.reason}
        if m["type"] == "websocket.close":
            return msgs, m
        msgs.append(json.loads(m["text"]))


def test_live_socket_carries_what_the_engine_decides(starter, jpegs):
    from exprnet.deploy.infer import Inferencer
    from exprnet.deploy.live import LiveEngine
    from fastapi.testclient import TestClient
    from PIL import Image

    with TestClient(app_for(starter)) as c, c.websocket_connect("/v1/live?fps=25&sample_rate=16000",
                                                                headers={"X-API-Key": "k3y"}) as ws:
        ready = ws.receive_json()
        for i, j in enumerate(jpegs):
            ws.send_text(frame(i / FPS, j))
        ws.send_text(audio(0.0, np.zeros(1600, np.float32)))  # the starter hears nothing: accepted, unused
        ws.send_text(json.dumps({"type": "end"}))
        msgs, close = until_closed(ws)
    assert ready["type"] == "ready" and ready["fps"] == 25 and len(ready["classes"]) == 8
    rows = [m for m in msgs if m["type"] == "row"]
    assert [m["type"] for m in msgs if m["type"] != "row"] == ["summary"] and msgs[-1]["type"] == "summary"
    assert close["code"] == 1000
    # the oracle: the engine itself on the same JPEGs decoded here
    from exprnet.deploy.bundle import Bundle

    inf = Inferencer(Bundle.load(starter), {}, "cpu")
    eng = LiveEngine(inf, fps=FPS, sample_rate=None)
    want = []
    for i, j in enumerate(jpegs):
        want += eng.push_frame(i / FPS, np.asarray(Image.open(io.BytesIO(j)).convert("RGB")))
    want += eng.close()
    assert len(rows) == len(want) == N
    classes = ready["classes"]
    for got, exp in zip(rows, want, strict=True):
        assert (got["frame"], got["time"], got["track"], got["expression"]) == (exp["frame"], exp["time"],
                                                                                exp["track"], exp["expression"])
        np.testing.assert_allclose([got[k] for k in classes], [exp[k] for k in classes], atol=1e-6)
    assert np.mean([r["expression"] == "Happiness" for r in rows]) >= 0.8  # the astronaut smiles
    s = msgs[-1]
    assert s["frames"] == N and s["decided"] == N and s["dropped"] == 0 and s["latency_ms"]["p95"] >= 0


@pytest.fixture(scope="module")
def multitask(tmp_path_factory) -> Path:
    from ..tasks_bundle import small_multitask_bundle

    return small_multitask_bundle(tmp_path_factory.mktemp("mt"))


def test_live_rows_of_a_multitask_bundle_carry_valence_arousal_and_action_units(multitask, jpegs):
    from exprnet.deploy.bundle import Bundle
    from exprnet.deploy.infer import Inferencer
    from exprnet.deploy.live import LiveEngine
    from fastapi.testclient import TestClient
    from featurizer.core.classes import AU_NAMES, VA_NAMES
    from PIL import Image

    rng = np.random.default_rng(0)
    pcm = (0.3 * np.sin(np.arange(int(N / FPS * 16000)) * 0.05) + 0.05 * rng.standard_normal(int(N / FPS * 16000)))
    pcm = pcm.astype(np.float32)
    chunk = 3200  # 0.2 s
    with TestClient(app_for(multitask)) as c, c.websocket_connect("/v1/live?fps=25&sample_rate=16000&api_key=k3y") as ws:
        ready = ws.receive_json()
        for i, j in enumerate(jpegs):
            if i % 5 == 0:
                ws.send_text(audio(i / FPS, pcm[i * 640:i * 640 + chunk]))
            ws.send_text(frame(i / FPS, j))
        ws.send_text(json.dumps({"type": "end"}))
        msgs, close = until_closed(ws)
    assert ready["tasks"] == ["expr", "va", "au"] and close["code"] == 1000
    rows = [m for m in msgs if m["type"] == "row"]
    assert not [m for m in msgs if m["type"] == "error"]
    cols = [*ready["classes"], *VA_NAMES, *[f"{a}_prob" for a in AU_NAMES], *AU_NAMES]
    assert len(rows) == N and all(set(cols) <= set(r) for r in rows)
    assert all(-1 <= r["valence"] <= 1 and r["AU12"] in (0, 1) for r in rows)
    eng = LiveEngine(Inferencer(Bundle.load(multitask), {}, "cpu"), fps=FPS, sample_rate=16000)  # the oracle
    want = []
    for i, j in enumerate(jpegs):
        if i % 5 == 0:
            want += eng.push_audio(i / FPS, pcm[i * 640:i * 640 + chunk], 16000)
        want += eng.push_frame(i / FPS, np.asarray(Image.open(io.BytesIO(j)).convert("RGB")), block=True)
    want += eng.close()
    assert [r["frame"] for r in rows] == [r["frame"] for r in want]
    np.testing.assert_allclose([[r[k] for k in cols] for r in rows], [[r[k] for k in cols] for r in want], atol=1e-6)


def test_every_bad_message_is_one_error_line_and_the_connection_goes_on(starter, jpegs):
    from fastapi.testclient import TestClient

    bad = [
        ("not json at all", "not JSON"),
        (json.dumps([1, 2]), "not an object with a \"type\" field"),
        (json.dumps({"type": "video"}), "message type 'video': unknown"),
        (json.dumps({"type": "frame", "jpeg": "AAAA"}), "field 't'"),
        (json.dumps({"type": "frame", "t": 0.5, "jpeg": "@@not base64@@"}), "not valid base64"),
        (frame(0.6, b"this is not an image"), "'jpeg' is not an image"),
        (json.dumps({"type": "frame", "t": 0.7, "jpeg": "A" * 70_000}), "larger than the 65536 accepted"),
        (audio(0.0, np.zeros(800, np.float32), rate=8000), "rate 8000 Hz, but the session declared sample_rate=16000"),
        (audio(0.1, np.full(10, 3.0, np.float32)), "outside [-1, 1]"),
        (json.dumps({"type": "audio", "t": 0.2, "rate": 16000, "pcm": base64.b64encode(b"abc").decode()}),
         "not a whole number of float32 samples"),
    ]
    with TestClient(app_for(starter, max_message_kb=64)) as c, \
            c.websocket_connect("/v1/live?sample_rate=16000&api_key=k3y") as ws:
        assert ws.receive_json()["type"] == "ready"
        for text, _ in bad:
            ws.send_text(text)
        ws.send_bytes(b"\x00\x01")
        ws.send_text(frame(1.0, jpegs[0]))
        ws.send_text(frame(0.5, jpegs[1]))  # timestamps going backwards: the engine's error
        for i, j in enumerate(jpegs[2:12]):
            ws.send_text(frame(1.04 + i / FPS, j))
        ws.send_text(json.dumps({"type": "end"}))
        msgs, close = until_closed(ws)
    errors = [m["message"] for m in msgs if m["type"] == "error"]
    for _, says in bad:
        assert sum(says in e for e in errors) == 1, (says, errors)
    assert any("binary message" in e for e in errors)
    assert any("0.5" in e and "timestamps must increase" in e for e in errors), errors
    assert len(errors) == len(bad) + 2 and all("\n" not in e for e in errors)
    rows = [m for m in msgs if m["type"] == "row"]
    assert len(rows) == 11 and msgs[-1]["type"] == "summary" and close["code"] == 1000  # still usable


@pytest.mark.parametrize("fail_at", [7, N])  # mid-stream (raised by a later push), at the end (after close)
def test_a_worker_error_is_one_error_message_and_every_decided_row_is_sent(starter, jpegs, monkeypatch, fail_at):
    from exprnet.deploy.live import LiveEngine
    from fastapi.testclient import TestClient

    faces_of, seen = LiveEngine._faces_of, {"n": 0}

    def failing(self, t, rgb):
        seen["n"] += 1
        if seen["n"] == fail_at:
            raise RuntimeError("injected model failure")
        return faces_of(self, t, rgb)

    monkeypatch.setattr(LiveEngine, "_faces_of", failing)
    with TestClient(app_for(starter)) as c, c.websocket_connect("/v1/live?api_key=k3y") as ws:
        assert ws.receive_json()["type"] == "ready"
        for i, j in enumerate(jpegs):
            ws.send_text(frame(i / FPS, j))
        ws.send_text(json.dumps({"type": "end"}))
        msgs, close = until_closed(ws)
    errors = [m["message"] for m in msgs if m["type"] == "error"]
    assert len(errors) == 1 and "injected model failure" in errors[0] and "\n" not in errors[0], errors
    rows = [m["frame"] for m in msgs if m["type"] == "row"]
    assert rows == [n for n in range(1, N + 1) if n != fail_at]  # every frame but the failed one, once
    assert msgs[-1]["type"] == "summary" and close["code"] == 1000


def test_key_is_checked_before_any_work_and_sessions_are_capped(starter, jpegs, monkeypatch):
    import exprnet.deploy.live as live
    from fastapi.testclient import TestClient

    made = []

    class Counted(live.LiveEngine):
        def __init__(self, *a, **k):
            made.append(1)
            super().__init__(*a, **k)

    monkeypatch.setattr(live, "LiveEngine", Counted)
    app = app_for(starter, max_sessions=1)
    with TestClient(app) as c:
        for url, headers, says in [("/v1/live", {}, "API key: missing"),
                                   ("/v1/live?api_key=nope", {}, "query parameter api_key: wrong API key"),
                                   ("/v1/live", {"Authorization": "Bearer nope"}, "wrong API key"),
                                   ("/v1/live?api_key=k3y&fps=0", {}, "query parameter fps: 0 is not a number from 1")]:
            with c.websocket_connect(url, headers=headers) as ws:
                msgs, close = until_closed(ws)
            assert close["code"] == 1008 and says in close["reason"], close
            assert [m["type"] for m in msgs] == ["error"] and says in msgs[0]["message"]
        assert made == []  # refused before an engine was made
        with c.websocket_connect("/v1/live", headers={"Authorization": "Bearer k3y"}) as first:
            assert first.receive_json()["type"] == "ready"
            with c.websocket_connect("/v1/live?api_key=k3y") as second:
                msgs, close = until_closed(second)
            assert close["code"] == 1013 and "--max-live-sessions 1" in close["reason"]
            assert "server busy: 1 live session(s) open" in msgs[0]["message"]
            first.send_text(frame(0.0, jpegs[0]))
            first.send_text(json.dumps({"type": "end"}))
            assert until_closed(first)[1]["code"] == 1000
        with c.websocket_connect("/v1/live?api_key=k3y") as third:  # the slot is free again
            assert third.receive_json()["type"] == "ready"
        assert len(made) == 2
        # the page is public (it asks for the key), from the package, with nothing from elsewhere
        page = c.get("/")
        assert page.status_code == 200 and "/web/app.js" in page.text and "http" not in page.text.replace(
            'content="width=device-width', "")
        assert c.get("/web/config.json").json()["api_key_required"] is True
        for f in ("app.js", "style.css", "pcm-worklet.js"):
            r = c.get(f"/web/{f}")
            assert r.status_code == 200 and "://" not in r.text
        assert c.get("/v1/models").status_code == 401  # the API itself still needs it
    assert app.state.live_sessions["open"] == 0


def ws_frame(text: str) -> bytes:
    """One masked text frame, as a client sends it (RFC 6455)."""
    data, mask = text.encode(), os.urandom(4)
    n = len(data)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def test_a_client_that_stops_reading_is_disconnected(starter, caplog):
    """uvicorn (its real transport and backpressure) and a raw socket that floods messages, each
    earning an error reply, and never reads: once `send_queue` replies wait for `send_timeout_s`
    the session ends, and the connection is reset (a close frame cannot reach such a client)."""
    import psutil
    import uvicorn

    app = app_for(starter, send_queue=32, send_timeout_s=1.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                        ws_per_message_deflate=False))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        assert th.is_alive()
        time.sleep(0.05)
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # small buffers: backpressure comes soon
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /v1/live?api_key=k3y HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert b" 101 " in sock.recv(4096)  # the handshake; nothing is read after it
        sock.settimeout(30)
        rss0 = psutil.Process().memory_info().rss
        sent, t0 = 0, time.monotonic()
        try:
            while time.monotonic() - t0 < 60:
                sock.sendall(ws_frame(json.dumps({"type": os.urandom(16).hex()})))  # each earns an error line
                sent += 1
        except OSError:  # reset by the server
            pass
        elapsed = time.monotonic() - t0
        grew = psutil.Process().memory_info().rss - rss0
        print(f"disconnected after {sent} unread replies in {elapsed:.1f} s; memory +{grew / 1e6:.1f} MB")
        assert elapsed < 60, f"still connected after {sent} unread replies"
        said = [r.getMessage() for r in caplog.records]
        assert any("client not reading: 32 messages waiting for 1 s" in m for m in said), said
        assert any("connection reset" in m for m in said), said
        assert grew < 100e6, grew
        deadline = time.monotonic() + 10
        while app.state.live_sessions["open"]:
            assert time.monotonic() < deadline, "the session was not released"
            time.sleep(0.05)
    finally:
        sock.close()
        srv.should_exit = True
        th.join(30)


def test_exprnet_serve_cli_serves_the_page_and_caps_live_sessions(starter, tmp_path):
    """The command line a user types: `exprnet serve --bundle B --max-live-sessions 1`."""
    import subprocess
    import sys

    import httpx
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "exprnet"), "serve", "--bundle", str(starter), "--port",
                             str(port), "--max-live-sessions", "1", "--api-key", "k3y", "--log-level", "warning"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "exprnet serve did not start"
            time.sleep(0.2)
        assert "/web/app.js" in httpx.get(base + "/").text
        url = f"ws://127.0.0.1:{port}/v1/live?api_key=k3y"
        with connect(url) as first:
            assert json.loads(first.recv())["type"] == "ready"
            with connect(url) as second:
                assert "--max-live-sessions 1" in json.loads(second.recv())["message"]
                with pytest.raises(ConnectionClosed) as closed:
                    second.recv()
            assert closed.value.rcvd.code == 1013
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    assert "page: http://127.0.0.1:" in (tmp_path / "serve.log").read_text()
