"""What ``exprnet infer`` writes per track: the CSV, the timeline PNG, an overlay video; and the
ABAW submission file over all tracks.

    O/<track>.csv      frame,time,expression,face,Neutral,...,Other (one row per video frame); a
                       bundle with VA or AU adds valence,arousal / AU1_prob,...,AU26_prob / AU1,...,AU26
                       (0/1 after each AU's threshold)
    O/<track>.png      class probabilities over time, the predicted expression as a coloured band;
                       valence and arousal as lines, the AUs (0/1) as a raster, for those tasks
    O/<track>.mp4      (--overlay) the video with the face box and the current expression
    O/submission.txt   image_location,Neutral,...,Other / <track>/00001.jpg,<label 0-7>
    O/submission_va.txt, O/submission_au.txt   the VA and AU submissions (:mod:`exprnet.tasks.submission`)
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from featurizer.core.files import atomic_write_bytes, atomic_write_text

from ..prediction.predict import write_submission
from ..reports.plots import _figure, atomic_savefig
from ..tasks.names import AU_NAMES
from ..tasks.submission import AU_FILE, VA_FILE, write_au_submission, write_va_submission
from .infer import TrackPrediction

# one colour per class, the same in every figure and overlay (matplotlib's tab10 order)
COLOURS = ("#7f7f7f", "#d62728", "#8c564b", "#9467bd", "#ff7f0e", "#1f77b4", "#2ca02c", "#bcbd22")
MAX_POINTS = 2400  # a timeline draws at most this many points (block means): readable for long videos


def csv_text(p: TrackPrediction) -> str:
    """The track's CSV (:meth:`TrackPrediction.columns`); floats with 7 significant digits (float32
    round to ~1e-7), AU 0/1 and ``face`` as integers (``face`` empty without visual features)."""
    cols = p.columns()
    head = list(cols)
    n = len(p.frames)
    text = []
    for h in head:
        v = cols[h]
        if h == "frame":
            text.append([str(int(x)) for x in v])
        elif h == "time":
            text.append([f"{x:.6f}" for x in v])
        elif h == "expression":
            text.append(list(v))
        elif h == "face":
            text.append([""] * n if v is None else [str(int(x)) for x in v])
        elif h in AU_NAMES:
            text.append([str(int(x)) for x in v])
        else:
            text.append([f"{x:.7g}" for x in v])
    buf = io.StringIO()
    buf.write(",".join(head) + "\n")
    for row in zip(*text, strict=True):
        buf.write(",".join(row) + "\n")
    return buf.getvalue()


def read_csv(path: str | Path) -> dict[str, np.ndarray]:
    """A track CSV back as arrays (``expression`` as names, ``face`` -1 where empty, AU 0/1 as int)."""
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
        elif h == "frame" or h in AU_NAMES:
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
    """Stacked class probabilities over time and under it the predicted expression (each frame's
    class as a colour); valence and arousal as lines; each AU's 0/1 as a raster row; where a face
    was found (each panel where the bundle has that task)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    t = p.time
    span = float(t[-1] - t[0]) if len(t) > 1 else 1.0
    end = t[-1] if len(t) > 1 else t[0] + 1
    panels = ([("probs", 5.0), ("band", 1.0)] if p.probabilities is not None else []) + \
        ([("va", 2.6)] if p.va is not None else []) + ([("au", 2.6)] if p.au is not None else []) + \
        ([("face", 0.4)] if p.face is not None else [])
    height = 1.6 + 0.55 * sum(h for _, h in panels)
    fig = _figure(figsize=(min(24.0, 8.0 + span / 60.0), max(4.2, height)))
    gs = fig.add_gridspec(len(panels), 1, height_ratios=[h for _, h in panels], hspace=0.12)
    axes: dict[str, object] = {}
    first = None
    tb = _blocks(t, MAX_POINTS)
    strip = {"extent": (t[0], end, 0, 1), "aspect": "auto", "interpolation": "nearest"}
    for k, (name, _) in enumerate(panels):
        ax = fig.add_subplot(gs[k], sharex=first) if first is not None else fig.add_subplot(gs[k])
        first = first or ax
        axes[name] = ax
        if name == "probs":
            ax.stackplot(tb, _blocks(p.probabilities.astype(np.float64), MAX_POINTS).T, colors=COLOURS, linewidth=0)
            ax.set_ylim(0, 1)
            ax.set_ylabel("probability")
        elif name == "band":
            ax.imshow(p.labels[None, :], cmap=ListedColormap(COLOURS), vmin=-0.5, vmax=len(COLOURS) - 0.5, **strip)
            ax.set_yticks([])
            ax.set_ylabel("predicted", rotation=0, ha="right", va="center")
        elif name == "va":
            vb = _blocks(p.va.astype(np.float64), MAX_POINTS)
            ax.plot(tb, vb[:, 0], color="#1f77b4", lw=1.2, label="valence")
            ax.plot(tb, vb[:, 1], color="#d62728", lw=1.2, label="arousal")
            ax.axhline(0, color="#999999", lw=0.6)
            ax.set_ylim(-1.05, 1.05)
            ax.set_ylabel("valence /\narousal")
            ax.legend(loc="center left", bbox_to_anchor=(1.005, 0.5), fontsize=8, frameon=False)
        elif name == "au":
            ax.imshow(p.au.T.astype(np.float32), cmap=ListedColormap(["#f4f4f4", "#2b5d8a"]), vmin=0, vmax=1,
                      **{**strip, "extent": (t[0], end, len(AU_NAMES) - 0.5, -0.5)})
            ax.set_yticks(range(len(AU_NAMES)), AU_NAMES, fontsize=6)
            ax.set_ylabel("AU (1 = present)")
        else:
            ax.imshow(p.face[None, :], cmap=ListedColormap(["#dddddd", "#333333"]), vmin=0, vmax=1, **strip)
            ax.set_yticks([])
            ax.set_ylabel("face", rotation=0, ha="right", va="center")
        if k < len(panels) - 1:
            ax.tick_params(labelbottom=False)
        else:
            ax.set_xlabel("time (s)")
    first.set_xlim(t[0], end)
    what = "expression" if p.probabilities is not None else "affect"
    first.set_title(f"{p.track}: {what} per frame ({len(t)} frames, {span:.0f} s)")
    if p.probabilities is not None:
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
                if i >= len(p.frames):
                    break
                img = fr.to_ndarray(format="rgb24")
                k = 0 if p.labels is None else int(p.labels[i])
                colour = tuple(int(COLOURS[k][j:j + 2], 16) for j in (1, 3, 5))
                text = "" if p.labels is None else f"{p.classes[k]} {p.probabilities[i, k]:.2f}"
                if p.va is not None:
                    text += f" v {p.va[i, 0]:+.2f} a {p.va[i, 1]:+.2f}"
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
    """The ABAW submission of each task the tracks have (EXPR ``submission.txt``, VA, AU); returns
    the first written."""
    out = Path(out)
    paths = []
    if preds and preds[0].labels is not None:
        paths.append(out / "submission.txt")
        write_submission(paths[-1], [(p.track, p.labels) for p in preds])
    if preds and preds[0].va is not None:
        paths.append(out / VA_FILE)
        write_va_submission(paths[-1], [(p.track, p.va) for p in preds])
    if preds and preds[0].au is not None:
        paths.append(out / AU_FILE)
        write_au_submission(paths[-1], [(p.track, p.au) for p in preds])
    return paths[0]
