"""featurizer.stream_media: a file as a live stream gives exactly what the offline decoders give
(the frames of iter_frames, the samples of load_audio, chunk by chunk); items in time order; realtime pacing
follows the file's clock (each item when its moment comes); a camera that is not there is named on one line."""

from __future__ import annotations

import time

import numpy as np
import pytest
from featurizer import MediaError, stream_media
from featurizer.demo import encode_video
from featurizer.media.decode import iter_frames, load_audio
from featurizer.media.stream import MAX_SKEW_S, merged


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(12)]
    audio = (0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16_000)).astype(np.float32)
    return encode_video(tmp_path_factory.mktemp("stream") / "c.mp4", frames, 25, audio)


def test_a_file_streams_the_offline_frames_and_samples(clip):
    s = stream_media(clip)
    assert s.fps == 25 and s.has_audio and not s.camera
    items = list(s)
    times = [t for _, t, _ in items]
    assert times == sorted(times)  # merged in time order (the file stores its audio after the video)
    frames = [(t, x) for k, t, x in items if k == "frame"]
    chunks = [(t, x) for k, t, x in items if k == "audio"]
    off = list(iter_frames(clip))
    assert [t for t, _ in frames] == [t for t, _ in off]
    assert all((a == b).all() for (_, a), (_, b) in zip(frames, off, strict=True))
    whole = load_audio(clip)
    assert np.array_equal(np.concatenate([x for _, x in chunks]), whole.samples)
    assert chunks[0][0] == whole.start
    starts = np.cumsum([0] + [len(x) for _, x in chunks[:-1]]) / 16_000 + whole.start
    assert np.allclose([t for t, _ in chunks], starts)  # each chunk's time is its first sample's


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """12 s (longer than the muxer's 10 s interleave buffer): the file stores its audio about a
    second after the video of the same moment."""
    frames = (np.full((32, 32, 3), i % 250, np.uint8) for i in range(300))
    audio = (0.3 * np.sin(2 * np.pi * 440 * np.arange(192_000) / 16_000)).astype(np.float32)
    return encode_video(tmp_path_factory.mktemp("stream") / "long.mp4", frames, 25, audio)


def test_realtime_follows_the_file_clock(long_clip):
    t0 = time.perf_counter()
    came = []
    for k, t, _ in stream_media(long_clip, realtime=True):
        came.append((k, t, time.perf_counter() - t0))
        if t > 1.5:
            break
    last = max(t for k, t, _ in came if k == "frame")
    assert time.perf_counter() - t0 >= last - 0.02
    assert {k for k, _, _ in came} == {"frame", "audio"}
    times = [t for _, t, _ in came]
    assert times == sorted(times)  # each item when its moment comes: the audio is not held behind the video


def test_a_long_file_streams_in_time_order(long_clip):
    times = [t for _, t, _ in stream_media(long_clip)]
    assert times == sorted(times) and times[-1] > 11.5


def test_merged_lets_an_item_out_once_every_kind_has_reached_it():
    items = [("frame", 0.0, 0), ("frame", 1.0, 1), ("audio", 0.0, 2), ("frame", 2.0, 3), ("audio", 1.5, 4)]
    assert [x for _, _, x in merged(iter(items), 2)] == [0, 2, 1, 4, 3]
    read = []

    def lone():  # the other kind never comes: an item is held until MAX_SKEW_S later ones were read
        for t in range(20):
            read.append(t)
            yield "frame", float(t), t

    first = next(merged(lone(), 2))
    assert first[2] == 0 and read[-1] == MAX_SKEW_S


def test_a_missing_camera_is_named_on_one_line():
    with pytest.raises(MediaError) as e:
        stream_media("/dev/video97")
    assert "/dev/video97 does not exist" in str(e.value) and "\n" not in str(e.value)
