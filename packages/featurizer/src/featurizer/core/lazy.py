"""Package attributes imported on first use (PEP 562), so a package's ``import`` stays light.

    __getattr__, __dir__ = lazy_attributes(__name__, {".store": ("FeatureStore",)}, globals())
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from typing import Any


def lazy_attributes(package: str, names: Mapping[str, Sequence[str]], namespace: dict[str, Any]
                    ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each name of ``names`` (module, relative
    to ``package`` or absolute -> its names) imported when first asked for, then kept in
    ``namespace`` (the package's globals)."""
    where = {name: module for module, group in names.items() for name in group}

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(where[name], package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__
