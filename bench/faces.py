"""Face detection on real-face clips: detection rate, landmark error and speed, per detector.

The clips (tests/featurizer/face_clips.py) move, turn and zoom real photographs that ship in
wheels (scikit-image's astronaut, matplotlib's Grace Hopper) by known transforms, so every frame's
true landmarks are known: a talking head (one person, the face covered in a few frames) and two
people side by side. For each detector, in one run on the same encoded clips:

- rate: frames whose track holds the person / frames where the person is visible
- NME: mean landmark error over the inter-ocular distance (haar: the points it places in its box)
- fps: frames per second of ``scan_video`` (decode on a thread + detect in batches + track), and of
  the bare ``detect`` on frames decoded beforehand; then ratios to the first detector.

    uv run python bench/faces.py [--frames 150] [--width 640] [--detectors retinaface,mtcnn,haar]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from featurizer.demo import encode_video  # noqa: E402
from featurizer.faces import load_detector  # noqa: E402
from featurizer.faces.scan import indexed_frames, scan_video  # noqa: E402
from featurizer.media.decode import probe_video  # noqa: E402

from tests.featurizer.face_clips import side_by_side, talking_head  # noqa: E402


def nme(found: np.ndarray, truth: np.ndarray) -> float:
    iod = np.linalg.norm(truth[:, 1] - truth[:, 0], axis=1)
    return float((np.linalg.norm(found - truth, axis=2).mean(1) / iod).mean())


def score(faces, truths: dict[str, np.ndarray], sides: dict[str, str]) -> tuple[float, float]:
    """(detection rate, NME) over the people in ``truths`` (``sides``: person -> track key)."""
    hit = total = 0
    errors = []
    for who, truth in truths.items():
        visible = ~np.isnan(truth[:, 0, 0])
        total += int(visible.sum())
        track = faces.tracks.get(sides[who])
        if track is None:
            continue
        ok = visible[track.frames]
        hit += int(ok.sum())
        if ok.any():
            errors.append(nme(track.landmarks[ok], truth[track.frames[ok]]))
    return hit / total, float(np.mean(errors)) if errors else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--detectors", default="retinaface,mtcnn,haar")
    args = ap.parse_args()
    w = args.width
    h = w * 3 // 4
    n = args.frames
    hidden = set(range(n // 3, n // 3 + 5))
    talk = talking_head(n, size=(w, h), face_px=w / 5, hidden=hidden)
    turning = talking_head(n, "hopper", size=(w, h), face_px=w / 8, amplitude=2.5)
    pair = side_by_side(n, size=(w, w // 2), face_px=w / 9)
    clips = {"talking head": (talk, {"astronaut": ""}), "turning": (turning, {"hopper": ""}),
             "two people": (pair, {"astronaut": "left", "hopper": "right"})}
    rows = []
    with tempfile.TemporaryDirectory() as d:
        paths = {name: encode_video(Path(d) / f"{i}.mp4", c.frames, 25) for i, (name, (c, _)) in enumerate(clips.items())}
        decoded = {name: [f for _, f in indexed_frames(p, probe_video(p).timestamps)] for name, p in paths.items()}
        print(f"clips: {n} frames each; talking head {w}x{h} (roll +-12 deg, face covered in "
              f"{len(hidden)} frames), turning {w}x{h} (smaller face, roll +-30 deg, scale +-37%), "
              f"two people {w}x{w // 2}")
        for det_name in args.detectors.split(","):
            det = load_detector(det_name)
            det.detect(decoded["talking head"][:det.batch_size])  # warm-up
            for name, (clip, sides) in clips.items():
                t = time.perf_counter()
                faces = scan_video(paths[name], det)
                scan_s = time.perf_counter() - t
                frames = decoded[name]
                t = time.perf_counter()
                for b in range(0, len(frames), det.batch_size):
                    det.detect(frames[b:b + det.batch_size])
                bare_s = time.perf_counter() - t
                rate, err = score(faces, clip.landmarks, sides)
                keys = sorted(faces.tracks)
                rows.append((det_name, name, rate, err, n / scan_s, n / bare_s, keys))
    base = {r[1]: r for r in rows if r[0] == rows[0][0]}
    print(f"\n{'detector':<11}{'clip':<14}{'rate':>7}{'NME':>8}{'fps':>8}{'bare fps':>10}"
          f"{'fps vs ' + rows[0][0]:>20}{'tracks':>22}")
    for det_name, name, rate, err, fps, bare, keys in rows:
        ratio = fps / base[name][4]
        print(f"{det_name:<11}{name:<14}{rate:>7.1%}{err:>8.3f}{fps:>8.1f}{bare:>10.1f}{ratio:>19.2f}x"
              f"{','.join(k or '(one)' for k in keys):>22}")


if __name__ == "__main__":
    main()
