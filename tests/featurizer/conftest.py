"""Media the tests encode themselves with PyAV: CFR/VFR, with/without audio, two-face, broken."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from featurizer.core.classes import EXPR_CLASSES
from featurizer.demo import draw_face, encode_video, voice

FPS = 25


def face_frames(n: int, w: int = 160, h: int = 120, seed: int = 0, faces: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    p = np.array([0, 0, 1, 0.5, 0.2, 1.0])
    out = []
    for i in range(n):
        img = np.full((h, w, 3), 90, np.uint8)
        for j in range(faces):
            cx = w * (j + 1) / (faces + 1) + 3 * np.sin(i / 5)
            draw_face(img, cx, h / 2, 0.55 if faces == 1 else 0.45, p * (1 + 0.2 * np.sin(i / 7)), (200, 170, 150))
        out.append(np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8))
    return out


def tone(seconds: float, f0: float = 180.0, sr: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * f0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def write_labels(path: Path, labels) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(EXPR_CLASSES) + "\n" + "\n".join(str(int(v)) for v in labels) + "\n")
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Small clips: 2 s at 25 fps (50 frames) unless named otherwise."""
    d = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(1)
    n = 2 * FPS
    vfr_ts = np.cumsum(np.r_[0.0, rng.uniform(0.025, 0.06, n - 1)])
    labels = rng.integers(0, 8, n)
    files = {
        "cfr": encode_video(d / "videos" / "clip.mp4", face_frames(n), FPS, voice(labels, rng)),
        "vfr": encode_video(d / "videos" / "vfr.mp4", face_frames(n, seed=2), FPS,
                            tone(float(vfr_ts[-1]) + 0.05), timestamps=vfr_ts),
        "noaudio": encode_video(d / "videos" / "silent.mp4", face_frames(n, seed=3), FPS, None),
        "twoface": encode_video(d / "videos" / "duo.mp4", face_frames(n, seed=4, faces=2), FPS, tone(2.0)),
        "avi": encode_video(d / "videos" / "video45_3.avi", face_frames(n, seed=5), FPS, tone(2.0), codec="mpeg4"),
    }
    (d / "bad").mkdir()
    files["empty"] = d / "bad" / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["corrupt"] = d / "bad" / "corrupt.mp4"
    files["corrupt"].write_bytes(b"\x00\x00\x00\x18ftypmp42" + rng.bytes(4000))
    files["vfr_ts"] = vfr_ts  # type: ignore[assignment]
    return files


@pytest.fixture(scope="session")
def labelled(media, tmp_path_factory) -> dict[str, Path]:
    """Annotation folder (Train_Set/Validation_Set) for clip, duo_left/duo_right, video45_3 and a
    track with no video; cropped_aligned crops for clip with some frames missing."""
    import cv2
    from featurizer.faces import DetectedFaces
    from featurizer.media.decode import iter_frames, probe_video
    from featurizer.media.timeline import Timeline

    d = tmp_path_factory.mktemp("labels")
    ann = d / "annotations"
    rng = np.random.default_rng(7)
    write_labels(ann / "Train_Set" / "clip.txt", rng.integers(-1, 8, 50))
    write_labels(ann / "Train_Set" / "duo_left.txt", rng.integers(0, 8, 50))
    write_labels(ann / "Validation_Set" / "duo_right.txt", rng.integers(0, 8, 53))  # 3 rows past the video
    write_labels(ann / "Validation_Set" / "video45_3.txt", rng.integers(0, 8, 40))  # shorter than video
    write_labels(ann / "Validation_Set" / "ghost_left.txt", rng.integers(0, 8, 10))  # no such video
    crops = d / "cropped_aligned" / "clip"
    crops.mkdir(parents=True)
    missing = {3, 4, 5, 20, 49}
    tl = Timeline.from_video("clip", probe_video(media["cfr"]).timestamps)
    found = dict(DetectedFaces().crops(tl, media["cfr"]))
    for i, (_, rgb) in enumerate(iter_frames(media["cfr"])):
        if i + 1 in missing:
            continue
        crop = found.get(i, rgb[:112, :112])
        cv2.imwrite(str(crops / f"{i + 1:05d}.jpg"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    return {"annotations": ann, "faces": d / "cropped_aligned", "missing": missing}


@pytest.fixture(scope="session")
def face_media(tmp_path_factory) -> dict:
    """Real-face clips (tests/featurizer/face_clips.py): ``talk`` (one person, face covered in
    frames 10-12), ``pair`` (two people side by side), and the true landmarks of each frame."""
    from .face_clips import side_by_side, talking_head

    d = tmp_path_factory.mktemp("faces")
    talk = talking_head(40, hidden={10, 11, 12})
    pair = side_by_side(30)
    return {
        "talk": encode_video(d / "videos" / "talk.mp4", talk.frames, FPS, tone(40 / FPS)),
        "pair": encode_video(d / "videos" / "pair.mp4", pair.frames, FPS, tone(30 / FPS)),
        "talk_truth": talk.landmarks["astronaut"],
        "pair_truth": pair.landmarks,
        "talk_frames": talk.frames,
        "pair_frames": pair.frames,
        "hidden": {10, 11, 12},
    }
