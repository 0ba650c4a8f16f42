"""The live engine's rolling buffers hold their window, not the stream: the audio buffer and its
finished rows after half a minute of audio are no larger than after five seconds; a post-processing
stage keeps its history and lookahead only (counts of kept samples and rows, not time)."""

from __future__ import annotations

import numpy as np
from exprnet.deploy.live.audio import LiveAudio
from exprnet.deploy.live.post import Stage
from featurizer import create_extractor


def test_the_audio_buffer_and_its_rows_stay_bounded_over_a_long_stream():
    la = LiveAudio([create_extractor("fbank")], 16_000)
    rng = np.random.default_rng(0)
    chunk = 3200  # 0.2 s: one core a push
    kept: dict[int, tuple[int, int]] = {}
    for k in range(30 * 16_000 // chunk):
        la.push(k * chunk / 16_000, (0.1 * rng.standard_normal(chunk)).astype(np.float32))
        la.compute()
        la.trim(la.end_time - 1.0)  # as the engine does: frames up to a second back still need their rows
        kept[k] = (len(la.buf), sum(len(c) for r in la.rows.values() for c in r.centres))
    assert la.end_time > 29.9 and la.ready(la.end_time - 1.0)
    five = max(v for k, v in kept.items() if k * chunk < 5 * 16_000)
    late = max(v for k, v in kept.items() if k * chunk >= 25 * 16_000)
    assert late[0] <= five[0] and late[1] <= five[1]
    assert late[0] < 4 * 16_000 and late[1] < 400  # a few seconds of samples, of 10 ms rows


def test_a_post_processing_stage_keeps_its_window():
    class Mean:  # a centred window mean over the rows it is given
        def apply(self, rows):
            class D:
                probs = rows
                labels = rows.argmax(1)
            return D

    s = Stage(Mean(), history=6, lookahead=3)
    out = 0
    for _ in range(2000):
        p, _ = s.push(np.full((5, 8), 0.125))
        out += len(p)
        assert len(s.rows) <= 6 + 3 + 5
    out += len(s.push(np.zeros((0, 8)), closed=True)[0])
    assert out == 10_000
