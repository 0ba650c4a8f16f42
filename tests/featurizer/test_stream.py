"""featurizer.stream_media: a file as a live stream gives exactly what the offline decoders give
(the frames of iter_frames, the samples of load_audio, chunk by chunk); realtime pacing follows
the file's clock; a camera that is not there is named on one line."""

from __future__ import annotations

import time

import numpy as np
import pytest
from featurizer import MediaError, stream_media
from featurizer.demo import encode_video
from featurizer.media.decode import iter_frames, load_audio


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


def test_realtime_follows_the_file_clock(clip):
    t0 = time.perf_counter()
    last = max(t for k, t, _ in stream_media(clip, realtime=True) if k == "frame")
    assert time.perf_counter() - t0 >= last - 0.02


def test_a_missing_camera_is_named_on_one_line():
    with pytest.raises(MediaError) as e:
        stream_media("/dev/video97")
    assert "/dev/video97 does not exist" in str(e.value) and "\n" not in str(e.value)
