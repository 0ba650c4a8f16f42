"""What ``exprnet infer`` writes per track: the CSV, the timeline PNG, an overlay video; and the
ABAW submission file over all tracks.

    O/<track>.csv      frame,time,expression,face,Neutral,...,Other (one row per video frame)
    O/<track>.png      class probabilities over time, the predicted expression as a coloured band
    O/<track>.mp4      (--overlay) the video with the face box and the current expression
    O/submission.txt   image_location,Neutral,...,Other / <track>/00001.jpg,<label 0-7>
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from featurizer.core.files import atomic_write_bytes, atomic_write_text

from ..prediction.predict import write_submission
from ..reports.plots import _figure, atomic_savefig
from .infer import TrackPrediction

# one colour per class, the same in every figure and overlay (matplotlib's tab10 order)
COLOURS = ("#7f7f7f", "#d62728", "#8c564b", "#9467bd", "#ff7f0e", "#1f77b4", "#2ca02c", "#bcbd22")
MAX_POINTS = 2400  # a timeline draws at most this many points (block means): readable for long videos


def csv_text(p: TrackPrediction) -> str:
    """The track's CSV; probabilities with 7 significant digits (float32 round to ~1e-7)."""
    head = ["frame", "time", "expression", "face", *p.classes]
    buf = io.StringIO()
    buf.write(",".join(head) + "\n")
    names = p.expression
    face = p.face
    for i in range(len(p.frames)):
        f = "" if face is None else str(int(face[i]))
        probs = ",".join(f"{v:.7g}" for v in p.probabilities[i])
        buf.write(f"{int(p.frames[i])},{p.time[i]:.6f},{names[i]},{f},{probs}\n")
    return buf.getvalue()


def read_csv(path: str | Path) -> dict[str, np.ndarray]:
    """A track CSV back as arrays (``expression`` as names, ``face`` -1 where empty)."""
    lines = Path(path).read_text().splitlines()
    head = lines[0].split(",")
    rows = [ln.split(",") for ln in lines[1:]]
    out: dict[str, np.ndarray] = {}
    for k, h in enumerate(head):
        col = [r[k] for r in rows]
        if h == "expression":
            out[h] = np.array(col)
        elif h == "face":
            out[h] = np.array([int(v) if v else -1 for v in col], np.int64)
        elif h == "frame":
            out[h] = np.array(col, np.int64)
        else:
            out[h] = np.array(col, np.float64)
    return out


def _blocks(x: np.ndarray, n: int) -> np.ndarray:
    """Block means of ``x`` along its first axis down to at most ``n`` rows."""
    if len(x) <= n:
        return x
    edges = np.linspace(0, len(x), n + 1).astype(int)
    return np.add.reduceat(x, edges[:-1], axis=0) / np.diff(edges)[:, None] if x.ndim > 1 else \
        np.add.reduceat(x, edges[:-1]) / np.diff(edges)


def plot_timeline(p: TrackPrediction, path: str | Path) -> None:
    """Stacked class probabilities over time; under it the predicted expression (each frame's
    class as a colour) and where a face was found."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    t = p.time
    span = float(t[-1] - t[0]) if len(t) > 1 else 1.0
    fig = _figure(figsize=(min(24.0, 8.0 + span / 60.0), 4.2))
    gs = fig.add_gridspec(3 if p.face is not None else 2, 1, height_ratios=[5, 1, 0.4][: 3 if p.face is not None else 2],
                          hspace=0.08)
    ax = fig.add_subplot(gs[0])
    tb, pb = _blocks(t, MAX_POINTS), _blocks(p.probabilities.astype(np.float64), MAX_POINTS)
    ax.stackplot(tb, pb.T, colors=COLOURS, linewidth=0)
    ax.set_xlim(t[0], t[-1] if len(t) > 1 else t[0] + 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title(f"{p.track}: expression per frame ({len(t)} frames, {span:.0f} s)")
    ax.tick_params(labelbottom=False)
    band = fig.add_subplot(gs[1], sharex=ax)
    cmap = ListedColormap(COLOURS)
    band.imshow(p.labels[None, :], aspect="auto", cmap=cmap, vmin=-0.5, vmax=len(COLOURS) - 0.5,
                extent=(t[0], t[-1] if len(t) > 1 else t[0] + 1, 0, 1), interpolation="nearest")
    band.set_yticks([])
    band.set_ylabel("predicted", rotation=0, ha="right", va="center")
    last = band
    if p.face is not None:
        strip = fig.add_subplot(gs[2], sharex=ax)
        strip.imshow(p.face[None, :], aspect="auto", cmap=ListedColormap(["#dddddd", "#333333"]), vmin=0, vmax=1,
                     extent=(t[0], t[-1] if len(t) > 1 else t[0] + 1, 0, 1), interpolation="nearest")
        strip.set_yticks([])
        strip.set_ylabel("face", rotation=0, ha="right", va="center")
        band.tick_params(labelbottom=False)
        last = strip
    last.set_xlabel("time (s)")
    fig.legend(handles=[Patch(color=c, label=n) for c, n in zip(COLOURS, p.classes, strict=True)],
               loc="center left", bbox_to_anchor=(0.91, 0.55), fontsize=8, frameon=False)
    atomic_savefig(fig, path)


def write_overlay(p: TrackPrediction, path: str | Path) -> None:
    """The video with this track's face box and its current expression drawn on every frame."""
    import av
    import cv2
    from featurizer import encode_video

    def frames() -> object:
        with av.open(p.video) as c:
            for i, fr in enumerate(c.decode(video=0)):
                if i >= len(p.labels):
                    break
                img = fr.to_ndarray(format="rgb24")
                k = int(p.labels[i])
                colour = tuple(int(COLOURS[k][j:j + 2], 16) for j in (1, 3, 5))
                text = f"{p.classes[k]} {p.probabilities[i, k]:.2f}"
                if p.boxes is not None and not np.isnan(p.boxes[i]).any():
                    x1, y1, x2, y2 = (int(v) for v in p.boxes[i])
                    cv2.rectangle(img, (x1, y1), (x2, y2), colour, 2)
                    org = (x1, max(12, y1 - 6))
                else:
                    org = (8, 20)
                cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
                yield img

    fps = _fps(p.time)
    tmp = Path(path).with_name(f".{Path(path).name}.tmp.mp4")
    try:
        encode_video(tmp, frames(), fps=fps)
        atomic_write_bytes(path, tmp.read_bytes())
    finally:
        tmp.unlink(missing_ok=True)


def _fps(t: np.ndarray) -> float:
    return float(1.0 / np.median(np.diff(t))) if len(t) > 1 and np.median(np.diff(t)) > 0 else 25.0


def write_track(p: TrackPrediction, out: str | Path, overlay: bool = False) -> list[Path]:
    """The track's CSV and timeline (and overlay video); returns the paths written."""
    out = Path(out)
    paths = [out / f"{p.track}.csv", out / f"{p.track}.png"]
    atomic_write_text(paths[0], csv_text(p))
    plot_timeline(p, paths[1])
    if overlay:
        paths.append(out / f"{p.track}.mp4")
        write_overlay(p, paths[-1])
    return paths


def write_submission_of(preds: Sequence[TrackPrediction], out: str | Path) -> Path:
    path = Path(out) / "submission.txt"
    write_submission(path, [(p.track, p.labels) for p in preds])
    return path
