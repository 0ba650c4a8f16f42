"""Session-wide: end the test process without the interpreter's teardown.

A clean-clone CI run once passed all 501 tests and then died with SIGSEGV (make: Error 139) while
the interpreter was finalising. What is still alive at that point are library threads: zarr's
I/O event loop and its asyncio pool, tqdm's monitor, anyio's portal and an idle thread of the HTTP
service's job pool; finalising with them running is the known way such a crash happens and it
did not recur when the suite was run again. The tests' outcome is decided by then, so the process exits
with pytest's own status once every plugin has finished (``trylast``), streams flushed.
"""

from __future__ import annotations

import os
import sys

import pytest

_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if not _status or os.environ.get("PYTEST_KEEP_TEARDOWN"):
        return  # collection failed before a session ended, or the teardown is wanted (debugging it)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_status[-1])
