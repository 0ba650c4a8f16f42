"""Typed extractor options: what an extractor declares it takes, parsed from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UnknownModelError


@dataclass(frozen=True)
class Option:
    """One typed option an extractor takes (``--option NAME.KEY=VALUE``, or a common flag)."""

    name: str
    type: type = str
    help: str = ""
    choices: tuple[Any, ...] | None = None

    def parse(self, value: Any, extractor: str) -> Any:
        """``value`` (a string from the command line, or already typed) as this option's type."""
        subject = f"{extractor} option {self.name}={value!r}"
        try:
            if self.type is bool and isinstance(value, str):
                low = value.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                v: Any = low in ("1", "true", "yes", "on")
            else:
                v = value if isinstance(value, self.type) and not isinstance(value, bool) else self.type(value)
        except (TypeError, ValueError):
            raise UnknownModelError(subject, f"is not a valid {self.type.__name__}",
                                    self.help or "see `featurizer models --json`") from None
        if self.choices is not None and v not in self.choices:
            raise UnknownModelError(subject, f"must be one of {', '.join(map(str, self.choices))}")
        return v

    def row(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type.__name__, "help": self.help,
                **({"choices": list(self.choices)} if self.choices else {})}


# Options most deep extractors take; the CLI's --weights/--device/--batch-size/--precision set them.
WEIGHTS = Option("weights", str, "weights SOURCE: file, folder, hub id, URL, or random")
DEVICE = Option("device", str, "cpu, cuda, cuda:N or auto")
BATCH_SIZE = Option("batch_size", int, "crops or audio chunks per forward")
PRECISION = Option("precision", str, "auto (default: bf16 where the device computes it natively, else "
                   "fp32), fp32, bf16 or fp16 (CUDA only)", choices=("auto", "fp32", "bf16", "fp16"))
DEEP_OPTIONS = (WEIGHTS, DEVICE, BATCH_SIZE, PRECISION)


def check_options(spec: Any, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` typed by the declarations of ``spec`` (an :class:`~.registry.ExtractorSpec`); one
    it does not declare is an error."""
    out = {}
    for k, v in options.items():
        opt = spec.option(k)
        if opt is None:
            takes = ", ".join(o.name for o in spec.options) or "no options"
            raise UnknownModelError(f"{spec.name} option {k}", f"{spec.name} takes no option {k!r}",
                                    f"it takes: {takes}")
        out[k] = opt.parse(v, spec.name)
    return out
