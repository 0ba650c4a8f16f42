"""HTTP errors: every failure becomes one JSON body (:class:`~.schemas.ErrorBody`) at the edge."""

from __future__ import annotations

from typing import Any

from ..errors import (
    FaceError,
    FeaturizerError,
    LabelError,
    MediaError,
    StoreError,
    UnknownModelError,
    WeightsError,
)


class ApiError(Exception):
    """An error with its status, a stable code and the input at fault."""

    def __init__(self, status: int, code: str, reason: str, *, subject: str | None = None,
                 hint: str | None = None, headers: dict[str, str] | None = None,
                 **extra: Any):
        self.status = status
        self.code = code
        self.reason = reason
        self.subject = subject
        self.hint = hint
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        msg = f"{self.subject}: {self.reason}" if self.subject else self.reason
        return f"{msg} ({self.hint})" if self.hint else msg

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, "subject": self.subject,
                "reason": self.reason, "hint": self.hint,
                **{k: v for k, v in self.extra.items() if v is not None}}


def from_featurizer(e: FeaturizerError, *, rename: dict[str, str] | None = None,
                    model: str | None = None) -> ApiError:
    """Map a featurizer error to its status; ``rename`` swaps server paths for client names."""

    def clean(s: str | None) -> str | None:
        if s is None:
            return None
        for old, new in (rename or {}).items():
            s = s.replace(old, new)
        return s

    subject, reason, hint = clean(e.subject), clean(e.reason) or "", clean(e.hint)
    if isinstance(e, UnknownModelError):
        from ..models.registry import specs

        return ApiError(422, "unknown_model", reason, subject=subject, hint=hint,
                        known_models=sorted(s.name for s in specs()))
    if isinstance(e, WeightsError):
        name = model or subject
        return ApiError(503, "weights_unavailable", f"weights cannot be loaded ({subject}: {reason})",
                        subject=name,
                        hint=hint or "start the server with --weights NAME=PATH (or set "
                                     "FEATURIZER_WEIGHTS), or fill the weights cache (HF_HOME)",
                        model=name)
    if isinstance(e, MediaError):
        return ApiError(422, "invalid_media", reason, subject=subject, hint=hint)
    if isinstance(e, LabelError):
        return ApiError(422, "invalid_annotation", reason, subject=subject, hint=hint)
    if isinstance(e, FaceError):
        return ApiError(422, "invalid_faces", reason, subject=subject, hint=hint)
    if isinstance(e, StoreError):
        return ApiError(422, "invalid_values", reason, subject=subject, hint=hint)
    return ApiError(422, "invalid_input", reason, subject=subject, hint=hint)
