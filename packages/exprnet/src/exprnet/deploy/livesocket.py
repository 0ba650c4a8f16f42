"""``/v1/live`` on ``exprnet serve --bundle B``: a WebSocket carrying
:class:`exprnet.deploy.live.LiveEngine` (the protocol: docs/http.md).

One session per connection, in three tasks: the receiver reads and checks messages
(:mod:`.livemsg`), the worker feeds the engine in a thread (frames decoded there), the sender
writes the outbox. Every queue is bounded: the receiver waits while the worker's inbox is full
(the client's messages then wait in its socket; the engine drops and counts the frames it cannot
decide in time, its queue bounded by ``max_pending``); a client that leaves
``send_queue`` messages unread for ``send_timeout_s`` is disconnected (1008), so a client that stops reading never makes
the server's memory grow (a client merely behind, or sending a burst, is waited for up to
``send_timeout_s``). The key is checked, and the session cap applied, before the engine is
made; refusals are an ``error`` message then a close with the reason (1008 key or query, 1013 cap).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from starlette.datastructures import Headers

from .livemsg import Audio, End, Frame, LiveParams, MessageError, parse_message, parse_query

log = logging.getLogger("exprnet.live")
POLICY, TRY_LATER, NORMAL = 1008, 1013, 1000
_STOP = object()


@dataclass(frozen=True)
class LiveSettings:
    max_sessions: int = 2  # live sessions at once; the next is refused (1013)
    max_message_kb: int = 2048  # largest client message; larger ones get an error
    inbox: int = 8  # checked messages waiting for the engine; past it the receiver waits
    send_queue: int = 256  # messages waiting for the client to read them
    send_timeout_s: float = 5.0  # a full send queue that does not move for this long: the client is dropped
    max_pending: int = 64  # the engine's bound on undecided frames


def _reason(text: str) -> str:
    """A close reason fits 123 bytes of UTF-8."""
    b = text.encode()
    return text if len(b) <= 123 else b[:120].decode("utf-8", "ignore") + "..."


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), default=lambda o: o.item() if hasattr(o, "item") else str(o))


def key_refusal(ws: WebSocket, key: str | None) -> str | None:
    """None when the server needs no key or the client gave it (a header as on the HTTP routes, or
    ``api_key`` in the query, which browsers can send); else the one-line reason."""
    if not key:
        return None
    from featurizer.service import ApiKeyMiddleware

    headers = ws.headers
    given = ws.query_params.get("api_key")
    in_query = given is not None and "x-api-key" not in headers and "authorization" not in headers
    if in_query:
        headers = Headers({"x-api-key": given})
    err = ApiKeyMiddleware(None, key, frozenset()).refusal(headers)
    if err is None:
        return None
    if in_query:
        err.subject = "query parameter api_key"
    return err.detail.replace("Authorization: Bearer KEY)", "Authorization: Bearer KEY, or ?api_key=KEY)")


class NotReading(Exception):
    """The client left ``send_queue`` messages unread for ``send_timeout_s``."""


class Session:
    """One connection's engine, queues and counters."""

    def __init__(self, ws: WebSocket, engine: Any, params: LiveParams, cfg: LiveSettings):
        self.ws, self.engine, self.params, self.cfg = ws, engine, params, cfg
        self.inbox: asyncio.Queue[Any] = asyncio.Queue(cfg.inbox)
        self.outbox: asyncio.Queue[Any] = asyncio.Queue(cfg.send_queue)
        self.slow = asyncio.Event()
        self.ended = False  # the engine was closed (after `end`)

    async def emit(self, doc: Any) -> None:
        """Queue a message (or the end mark); an outbox that stays full means the client stopped
        reading: :class:`NotReading` (the session then ends)."""
        item = doc if doc is _STOP else _dumps(doc)
        try:
            await asyncio.wait_for(self.outbox.put(item), self.cfg.send_timeout_s)
        except TimeoutError:
            self.slow.set()
            raise NotReading from None

    async def rows(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            await self.emit({"type": "row", **r})

    async def receive(self) -> None:
        max_bytes = self.cfg.max_message_kb * 1024
        while True:
            msg = await self.ws.receive()
            if msg["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(msg.get("code", 1000))
            try:
                item = parse_message(msg.get("text"), msg.get("bytes"), max_bytes, self.params)
            except MessageError as e:
                await self.emit({"type": "error", "message": str(e)})
                continue
            await self.inbox.put(item)
            if isinstance(item, End):
                return

    async def work(self) -> None:
        from .live import LiveError

        while True:
            item = await self.inbox.get()
            try:
                if isinstance(item, End):
                    self.ended = True
                    await self.rows(await asyncio.to_thread(self.engine.close))
                    err = self.engine.take_error()
                    if err:
                        await self.emit({"type": "error", "message": err})
                    await self.emit({"type": "summary", **await asyncio.to_thread(self.engine.summary)})
                    await self.emit(_STOP)
                    return
                if isinstance(item, Frame):
                    rows = await asyncio.to_thread(self._frame, item)
                else:
                    assert isinstance(item, Audio)
                    rows = await asyncio.to_thread(self.engine.push_audio, item.t, item.pcm, item.rate)
                await self.rows(rows)
            except (LiveError, MessageError) as e:
                await self.emit({"type": "error", "message": " ".join(str(e).split())})

    def _frame(self, f: Frame) -> list[dict[str, Any]]:
        return self.engine.push_frame(f.t, f.rgb())

    async def send(self) -> None:
        while True:
            text = await self.outbox.get()
            if text is _STOP:
                return
            await self.ws.send_text(text)

    async def run(self) -> None:
        """Until the summary is sent (1000), the client leaves, or it stops reading (1008)."""
        tasks = [asyncio.create_task(c) for c in (self.receive(), self.work(), self.send())]
        slow = asyncio.create_task(self.slow.wait())
        sender = tasks[2]
        waiting = {*tasks, slow}
        try:
            while True:
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if self.slow.is_set():
                    reason = (f"client not reading: {self.cfg.send_queue} messages waiting for "
                              f"{self.cfg.send_timeout_s:g} s; read the server's messages as they come")
                    log.warning("live session closed: %s", reason)
                    return await self._close(POLICY, reason)
                for t in done:
                    e = t.exception()
                    if isinstance(e, WebSocketDisconnect):
                        return
                    if e is not None:
                        log.error("live session failed", exc_info=e)
                        return await self._close(1011, f"internal error ({e.__class__.__name__}); "
                                                       "the server log has the traceback")
                if sender in done:
                    return await self._close(NORMAL, "summary sent")
        finally:
            for t in (*tasks, slow):
                t.cancel()
            for t in (*tasks, slow):
                with contextlib.suppress(BaseException):
                    await t

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code, _reason(reason)), 2.0)
        except TimeoutError:  # a client that never reads cannot take the close frame either
            _abort(self.ws)
        except Exception:  # noqa: S110 - already gone
            pass


def _abort(ws: WebSocket) -> None:
    """Reset the connection of a client whose socket takes nothing more: an ASGI app cannot, so this
    reaches the server's transport (uvicorn's protocol is what ``receive`` is bound to); elsewhere
    a no-op, and the server drops the connection when its own timeouts say so."""
    transport = getattr(getattr(getattr(ws, "_receive", None), "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        log.warning("live session: connection reset (the client takes no data)")
        transport.abort()


async def refuse(ws: WebSocket, code: int, reason: str) -> None:
    """Accept, say why in an ``error`` message, close with ``code`` and the reason."""
    await ws.accept()
    with contextlib.suppress(Exception):
        await ws.send_text(_dumps({"type": "error", "message": reason}))
        await ws.close(code, _reason(reason))


def add_live_route(app: Any, inferencer: Any, cfg: LiveSettings) -> None:
    """``/v1/live`` on ``app``, under its settings' API key, at most ``cfg.max_sessions`` at once."""
    state = {"open": 0}

    @app.websocket("/v1/live")
    async def live(ws: WebSocket) -> None:
        why = key_refusal(ws, app.state.settings.api_key)
        if why is not None:
            return await refuse(ws, POLICY, why)
        try:
            params = parse_query(ws.query_params)
        except MessageError as e:
            return await refuse(ws, POLICY, str(e))
        if state["open"] >= cfg.max_sessions:
            return await refuse(ws, TRY_LATER, f"server busy: {state['open']} live session(s) open, the most "
                                               f"this server takes (--max-live-sessions {cfg.max_sessions}); "
                                               "try again when one ends")
        state["open"] += 1
        try:
            from .live import LiveEngine, LiveError

            try:
                engine = await asyncio.to_thread(LiveEngine, inferencer, fps=params.fps,
                                                 sample_rate=params.sample_rate, max_pending=cfg.max_pending)
            except LiveError as e:
                return await refuse(ws, POLICY, " ".join(str(e).split()))
            session = Session(ws, engine, params, cfg)
            try:
                await ws.accept()
                await session.emit({"type": "ready", **engine.ready()})
                with contextlib.suppress(WebSocketDisconnect):
                    await session.run()
            finally:  # a client that left (or was disconnected) without `end`: stop the engine's worker
                if not session.ended:
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(engine.close)
        finally:
            state["open"] -= 1

    app.state.live_sessions = state
