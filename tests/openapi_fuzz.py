"""Schemathesis over an ASGI app's OpenAPI schema, bounded: what the featurizer service's and
`exprnet serve`'s fuzz tests share. Positive cases that upload a file upload ``upload`` (a real
clip: the one thing a schema cannot say is that the file is media)."""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@contextlib.contextmanager
def without_broken_lazy_modules():
    """Hypothesis reads ``__file__`` of every module in sys.modules; speechbrain's lazy modules for
    missing optional packages (k2, ...) raise ImportError there once speechbrain was imported by
    another test. Hide those while hypothesis runs."""
    hidden = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notes of the redirecting lazy modules
        for name, mod in list(sys.modules.items()):
            try:
                getattr(mod, "__file__", None)
            except Exception:  # noqa: BLE001 - anything a broken lazy module raises
                hidden[name] = sys.modules.pop(name)
    try:
        yield
    finally:
        sys.modules.update(hidden)


@dataclass
class Tally:
    """What a long run saw, instead of stopping at its first failure: requests made, their statuses per
    (operation, "positive" | "negative"), and each failed check (operation, mode, status, message)."""

    requests: int = 0
    statuses: dict[tuple[str, str], Counter] = field(default_factory=dict)
    failures: list[tuple[str, str, int, str]] = field(default_factory=list)

    def server_errors(self) -> int:
        return sum(n for c in self.statuses.values() for s, n in c.items() if s >= 500)

    def valid_rejected(self) -> int:
        """Schema-valid (positive) requests not answered 2xx."""
        return sum(n for (_, mode), c in self.statuses.items() if mode == "positive" for s, n in c.items()
                   if not 200 <= s < 300)

    def summary(self) -> str:
        return (f"{self.requests} requests, {self.server_errors()} 5xx, {self.valid_rejected()} schema-valid "
                f"rejections, {len(self.failures)} failed checks; " + "; ".join(
                    f"{op} {mode}: {dict(sorted(c.items()))}" for (op, mode), c in sorted(self.statuses.items())))


def fuzz(app: Any, upload: bytes, positive_examples: int = 25, negative_examples: int = 30,
         operations: tuple[str, ...] | None = None, tally: Tally | None = None) -> dict[tuple[str, str], set[int]]:
    """Positive and negative cases for every operation (or those labelled ``operations``, e.g.
    "POST /v1/expressions"); each response validated: no 5xx, status, content type and body as
    documented, and every positive case accepted (positive_data_acceptance: no 400/413/415/422).
    Returns the status codes seen per (operation, "positive" | "negative"); with ``tally``, counts
    every request there and records failed checks instead of stopping at the first."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        positive_data_acceptance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    seen: dict[tuple[str, str], set[int]] = {}

    def checker(positive: bool):
        def run(case) -> None:
            if positive and isinstance(case.body, dict) and "file" in case.body:
                case.body["file"] = upload
            r = case.call(timeout=600)  # a clip computed on a busy machine; a hang still ends
            key = (case.operation.label, "positive" if positive else "negative")
            seen.setdefault(key, set()).add(r.status_code)
            if tally is not None:
                tally.requests += 1
                tally.statuses.setdefault(key, Counter())[r.status_code] += 1
                if tally.requests % 250 == 0:
                    print(f"... {tally.summary()}", file=sys.stderr, flush=True)
            try:
                case.validate_response(r, checks=checks + ([positive_data_acceptance] if positive else []))
            except Exception as e:  # noqa: BLE001 - schemathesis' failure group, kept for the tally
                if tally is None:
                    raise
                tally.failures.append((*key, r.status_code, " ".join(str(e).split())[:300]))
        return run

    for result in schema.get_all_operations():
        op = result.ok()
        if operations is not None and op.label not in operations:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            positive = mode == GenerationMode.POSITIVE
            test = settings(max_examples=positive_examples if positive else negative_examples, deadline=None,
                            database=None, derandomize=True, suppress_health_check=list(HealthCheck))(
                given(case=op.as_strategy(generation_mode=mode))(checker(positive)))
            try:
                with without_broken_lazy_modules():
                    test()
            except Unsatisfiable:  # no parameters to break (GET /healthz)
                pass
    return seen
