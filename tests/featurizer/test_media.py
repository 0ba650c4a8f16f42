import av
import numpy as np
import pytest
from featurizer.demo import encode_audio
from featurizer.errors import MediaError, NoAudioError
from featurizer.media.decode import (
    find_media,
    iter_frames,
    load_audio,
    probe_media,
    probe_streams,
    probe_video,
)


def test_probe_matches_decoded_presentation_times(media):
    for key in ("cfr", "vfr", "avi"):
        info = probe_video(media[key])
        decoded = np.array([t for t, _ in iter_frames(media[key])])
        assert info.n_frames == len(decoded) == 50
        np.testing.assert_allclose(info.timestamps, decoded, atol=1e-9)


def test_variable_frame_rate_timestamps_are_kept(media):
    info = probe_video(media["vfr"])
    want = media["vfr_ts"] - media["vfr_ts"][0]
    # the encoder's time base is 1 ms
    np.testing.assert_allclose(info.timestamps - info.timestamps[0], want, atol=1e-3)
    assert np.std(np.diff(info.timestamps)) > 0.005


def test_audio_is_resampled_to_16k_mono(tmp_path):
    sr = 44_100
    t = np.arange(sr * 2) / sr
    stereo_src = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    p = encode_audio(tmp_path / "a.wav", stereo_src, sr)
    a = load_audio(p)
    assert a.sample_rate == 16_000
    assert abs(len(a.samples) - 32_000) < 64
    spec = np.abs(np.fft.rfft(a.samples))
    peak = np.argmax(spec) * 16_000 / len(a.samples)
    assert abs(peak - 440) < 2
    assert 0.25 < np.abs(a.samples).max() < 0.45


def test_bad_files_are_named(media, tmp_path):
    with pytest.raises(MediaError, match="empty"):
        probe_video(media["empty"])
    with pytest.raises(MediaError, match="corrupt.mp4"):
        probe_video(media["corrupt"])
    with pytest.raises(MediaError, match="not found"):
        probe_video(tmp_path / "nope.mp4")
    with pytest.raises(NoAudioError, match="silent.mp4: no audio stream"):
        load_audio(media["noaudio"])
    wav = encode_audio(tmp_path / "voice.wav", np.zeros(16000, np.float32))
    with pytest.raises(MediaError, match="no video stream"):
        probe_video(wav)


def test_find_media_recurses_and_dedups(media):
    root = media["cfr"].parent
    found = find_media([root, media["cfr"]])
    assert media["cfr"] in found and len(found) == len(set(found))
    assert all(p.suffix in {".mp4", ".avi"} for p in found)


def test_find_media_takes_audio_files_unless_a_video_has_their_name(media, tmp_path):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "clip.mp4").write_bytes(media["cfr"].read_bytes())
    encode_audio(d / "clip.wav", np.zeros(16000, np.float32))  # the video's own audio, extracted
    encode_audio(d / "sub" / "speech.wav", np.zeros(16000, np.float32))
    (d / "notes.txt").write_text("not media")
    assert [p.relative_to(d).as_posix() for p in find_media([d])] == ["clip.mp4", "sub/speech.wav"]
    assert find_media([d / "clip.wav"]) == [d / "clip.wav"]  # given by name: taken as it is


def test_probe_streams_reads_headers_and_names_bad_files(media, tmp_path):
    s = probe_streams(media["cfr"])
    assert s.has_video and s.has_audio and abs(s.audio_duration - 2.0) < 0.1
    assert not probe_streams(media["noaudio"]).has_audio
    wav = encode_audio(tmp_path / "voice.wav", np.zeros(16000 * 3, np.float32))
    s = probe_streams(wav)
    assert (s.has_video, s.has_audio) == (False, True) and abs(s.audio_duration - 3.0) < 1e-3
    for key, words in (("empty", "empty.mp4: file is empty"), ("corrupt", "corrupt.mp4: not a decodable")):
        with pytest.raises(MediaError, match=words):
            probe_streams(media[key])
    with pytest.raises(MediaError, match="nope.mp4: file not found"):
        probe_streams(tmp_path / "nope.mp4")


def test_probe_media_gives_audio_only_files_rows_at_the_given_rate(media, tmp_path):
    wav = encode_audio(tmp_path / "voice.wav", np.zeros(int(16000 * 2.3), np.float32))
    info = probe_media(wav, audio_fps=25)
    assert not info.has_video and info.has_audio and info.fps == 25
    assert info.n_frames == 58  # ceil(2.3 s x 25), by hand
    np.testing.assert_allclose(info.timestamps, np.arange(58) / 25)
    assert abs(info.duration - 2.3) < 1e-3
    assert probe_media(wav, audio_fps=10).n_frames == 23
    video = probe_media(media["cfr"], audio_fps=10)  # a video keeps its own frame times
    np.testing.assert_array_equal(video.timestamps, probe_video(media["cfr"]).timestamps)


def test_frames_are_rgb(media):
    _, rgb = next(iter_frames(media["cfr"]))
    assert rgb.dtype == np.uint8 and rgb.shape == (120, 160, 3)
    assert isinstance(av.__version__, str)
