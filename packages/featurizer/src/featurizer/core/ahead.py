"""The one prefetcher: run an iterator on a background thread, a bounded number of items ahead.

Used for face crops read ahead of the visual models, the next video decoded while the current
one computes, and training batches built while the model steps. The consumer's waiting time is
recorded (``wait_s``): near zero when producing hides behind consuming. Errors raised by the
producer are re-raised in the consumer; closing (or leaving the ``with``) stops the producer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()


class Ahead(Generic[T]):
    """Iterate ``make()`` on a thread, at most ``depth`` items ahead (``depth=0``: inline)."""

    def __init__(self, make: Callable[[], Iterable[T]], depth: int = 2, name: str = "ahead"):
        self.make, self.depth, self.name = make, depth, name
        self.wait_s = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Ahead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _inline(self) -> Iterator[T]:
        it = iter(self.make())
        while True:
            t = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                self.wait_s += time.perf_counter() - t
            yield item

    def __iter__(self) -> Iterator[T]:
        if self.depth <= 0:
            yield from self._inline()
            return
        q: queue.Queue = queue.Queue(maxsize=self.depth)

        def put(item: object) -> bool:
            while not self._stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                for item in self.make():
                    if not put(item):
                        return
                put(_END)
            except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
                put(e)

        self._thread = threading.Thread(target=produce, name=self.name, daemon=True)
        self._thread.start()
        try:
            while True:
                t = time.perf_counter()
                item = q.get()
                self.wait_s += time.perf_counter() - t
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
