"""The concurrency gate (compute slots and a bounded queue), and noticing a client that left."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

from .errors import ApiError

T = TypeVar("T")


class Gate:
    """At most ``limit`` requests compute at once; ``max_queue`` more wait up to ``timeout`` s."""

    def __init__(self, limit: int, max_queue: int, timeout: float):
        self.limit, self.max_queue, self.timeout = limit, max_queue, timeout
        self.waiting = 0
        self.running = 0
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mean_s = 1.0  # running mean of a job's seconds, for Retry-After

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._loop is not loop:  # a new loop (tests): start afresh
            self._sem, self._loop, self.running, self.waiting = asyncio.Semaphore(self.limit), loop, 0, 0
        return self._sem

    def retry_after(self) -> int:
        return max(1, math.ceil(self._mean_s * (self.waiting + 1) / self.limit))

    def busy(self, why: str) -> ApiError:
        ra = self.retry_after()
        return ApiError(503, "busy", why, subject="server", headers={"Retry-After": str(ra)},
                        hint=f"retry after {ra} s")

    async def acquire(self) -> None:
        sem = self._semaphore()
        if sem.locked():
            if self.waiting >= self.max_queue:
                raise self.busy(f"all {self.limit} compute slots busy and {self.waiting} requests "
                                "waiting")
            self.waiting += 1
            try:
                async with asyncio.timeout(self.timeout):
                    await sem.acquire()
            except TimeoutError:
                raise self.busy(f"no compute slot free within {self.timeout:g} s") from None
            finally:
                self.waiting -= 1
        else:
            await sem.acquire()
        self.running += 1

    def release(self) -> None:
        self.running -= 1
        if self._sem is not None:
            self._sem.release()

    def release_threadsafe(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: nothing waits any more
                self._loop.call_soon_threadsafe(self.release)

    def observe(self, seconds: float) -> None:
        self._mean_s = 0.8 * self._mean_s + 0.2 * seconds


async def until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class ClientGone(Exception):
    pass


async def unless_gone(aw: Awaitable[T], watch: asyncio.Future) -> T:
    """Await ``aw`` unless the client disconnects first (then cancel it, raise ClientGone)."""
    task = asyncio.ensure_future(aw)
    await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        return task.result()
    task.cancel()
    raise ClientGone
