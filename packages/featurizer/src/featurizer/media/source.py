"""One source file opened before its models run: probed (frame times, streams) and its audio
decoded, possibly on a background thread ahead of the models (errors kept for when it is used);
and each track's label timeline on it."""

from __future__ import annotations

from dataclasses import dataclass

from .decode import DEFAULT_AUDIO_FPS, Audio, VideoInfo, load_audio, probe_media
from .inputs import SourcePlan, TrackPlan
from .timeline import Timeline


@dataclass
class Prefetched:
    """A source probed and its audio decoded ahead of time (errors kept for when it is used)."""

    info: VideoInfo | None = None
    error: BaseException | None = None
    audio: Audio | None = None
    audio_error: BaseException | None = None
    audio_loaded: bool = False


def prefetch_source(plan: SourcePlan, need_audio: bool, audio_fps: float = DEFAULT_AUDIO_FPS) -> Prefetched:
    try:
        info = probe_media(plan.video, audio_fps)
    except Exception as e:  # noqa: BLE001 - re-raised where the source is processed
        return Prefetched(error=e)
    out = Prefetched(info=info)
    if need_audio:
        out.audio_loaded = True
        try:
            out.audio = load_audio(plan.video)
        except Exception as e:  # noqa: BLE001
            out.audio_error = e
    return out


def probed(plan: SourcePlan, prefetched: Prefetched | None) -> tuple[Prefetched, VideoInfo]:
    """``prefetched`` (or the source probed now) and its frame times; raises what probing raised."""
    pre = prefetched or prefetch_source(plan, need_audio=False)
    if pre.error is not None:
        raise pre.error
    assert pre.info is not None
    return pre, pre.info


def track_timeline(plan: TrackPlan, info: VideoInfo) -> Timeline:
    """A track's rows: its video's frames (or label lines), or for audio-only files rows at fps."""
    if not info.has_video:
        return Timeline.at_rate(plan.track, plan.n_labels or info.n_frames, info.fps)
    return Timeline.from_video(plan.track, info.timestamps, plan.n_labels)
