"""What an extraction run reports: one result per track, and the inputs refused up front."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import FeaturizerError


@dataclass
class TrackResult:
    track: str
    video: str
    status: str  # "done", "skipped" (complete already, or written by another writer), "failed"
    frames: int = 0
    models: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)  # models another writer of the store wrote meanwhile
    deferred: list[str] = field(default_factory=list)  # another writer holds them: left for a second pass
    seconds: float = 0.0
    error: str | None = None  # one line: what failed and why
    cause: FeaturizerError | None = None  # the input error behind ``error``, when it was one


@dataclass
class RunReport:
    results: list[TrackResult] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # input -> why it was not extracted
    seconds: float = 0.0

    @property
    def failed(self) -> list[TrackResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.problems

    def counts(self) -> str:
        """One line: tracks extracted, already complete, failed, input problems, frames, seconds."""
        done = [r for r in self.results if r.status == "done"]
        other = sum(len(r.elsewhere) for r in self.results)
        return (f"{len(done)} track(s) extracted, {sum(r.status == 'skipped' for r in self.results)} "
                f"already complete, {f'{other} array(s) written by another writer, ' if other else ''}"
                f"{len(self.failed)} failed, {len(self.problems)} input problem(s); "
                f"{sum(r.frames for r in done)} frames in {self.seconds:.1f} s")

    def elsewhere(self) -> list[str]:
        """One line per track some of whose arrays another writer of the store wrote meanwhile."""
        return [f"{r.track}: {', '.join(r.elsewhere)} written by another writer of the store meanwhile "
                "(skipped here)" for r in self.results if r.elsewhere]


def merge_results(parts: list[list[TrackResult]]) -> list[TrackResult]:
    """Results of one video computed in parts (one per extractor group, or a first pass and the
    arrays it left to another writer) -> one per track."""
    merged: dict[str, TrackResult] = {}
    for results in parts:
        for r in results:
            m = merged.get(r.track)
            if m is None:
                merged[r.track] = r
                continue
            m.models = sorted(set(m.models) | set(r.models))
            m.elsewhere = sorted(set(m.elsewhere) | set(r.elsewhere))
            m.deferred = sorted((set(m.deferred) | set(r.deferred)) - set(m.models) - set(m.elsewhere))
            m.frames = max(m.frames, r.frames)
            m.seconds = max(m.seconds, r.seconds)
            if r.status == "failed" or m.status == "failed":
                m.error = "; ".join(e for e in (m.error, r.error) if e)
                m.cause = m.cause or r.cause
                m.status = "failed"
            elif r.status == "done":
                m.status = "done"
    return list(merged.values())
