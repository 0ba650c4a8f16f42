"""HTTP/1.1 by hand, for what a client library hides: a request head sent with
`Expect: 100-continue` and no body (does the server answer 413 before asking for the body, or
`100 Continue`?), and an app served by uvicorn in a thread of the test process."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

CONTINUE = "HTTP/1.1 100 Continue"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_answer(url: str, path: str, content_length: int, boundary: str = "abc",
                 headers: dict[str, str] | None = None, timeout: float = 10.0) -> str:
    """Send only the head of a multipart POST with ``Content-Length`` and
    ``Expect: 100-continue``; return the server's first answer: ``HTTP/1.1 100 Continue`` (it wants
    the body), or a whole response (status line to the end of its JSON body). The body is never sent."""
    host, port = url.removeprefix("http://").split(":")
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall((f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}"
                   f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                   f"Content-Length: {content_length}\r\nExpect: 100-continue\r\n\r\n").encode())
        reply = ""
        while not (reply.startswith(CONTINUE) and "\r\n\r\n" in reply) and not reply.rstrip().endswith("}"):
            chunk = s.recv(65536).decode("latin-1")
            if not chunk:
                break
            reply += chunk
    return reply


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 (a free port) in a thread; yields its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
