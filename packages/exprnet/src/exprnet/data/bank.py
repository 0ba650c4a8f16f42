"""The feature bank: every selected feature of every track, once, in one float16 buffer.

``values`` is one contiguous (N, D) float16 array (in RAM, or a memory-mapped ``.npy`` with
``data.memmap``); track ``i`` owns rows ``offsets[i]:offsets[i + 1]``; features sit side by side
in the configured order. Nothing here makes a float32 copy of it: batches convert and
standardise only the rows they take (see :mod:`exprnet.data.batches`).

A feature stored as float32 (featurizer does so when values exceed the float16 range, e.g.
ComParE energies) is held as ``(raw - offset) * scale``: per column, the midpoint of its range and
a power of two, found by a first pass over that feature, so large values fit and a large offset
does not eat float16's precision. :class:`Standardizer` works in raw units; the mapping never
leaks out of the bank and the batch builder.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from featurizer.core.identity import describe_identity
from featurizer.core.store import FeatureInfo, FeatureStore

from ..errors import DataError, ExprnetWarning
from .extraction import extract_command


@dataclass
class FeatureBank:
    tracks: list[str]
    offsets: np.ndarray  # (T + 1,) int64
    values: np.ndarray  # (N, D) float16
    present: np.ndarray  # (N, F) bool, one column per feature
    labels: np.ndarray  # (N,) int8, -1 = no label
    features: list[str]
    dims: list[int]
    modalities: list[str]
    scale: np.ndarray | None = None  # (D,) powers of two: values = (raw - offset) * scale
    offset: np.ndarray | None = None  # (D,)
    identities: dict[str, dict] = field(default_factory=dict)  # feature -> how it was made (store provenance)
    # multi-task runs: "va" (N, 2) float32 (NaN = no label), "au" (N, 12) int8 (-1 = no label); EXPR is ``labels``
    targets: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {t: i for i, t in enumerate(self.tracks)}
        if self.scale is None:
            self.scale = np.ones(self.values.shape[1], np.float64)
        if self.offset is None:
            self.offset = np.zeros(self.values.shape[1], np.float64)

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])

    @property
    def n_frames(self) -> int:
        return int(self.offsets[-1])

    def index(self, track: str) -> int:
        return self._index[track]

    def rows(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def length(self, i: int) -> int:
        return int(self.offsets[i + 1] - self.offsets[i])

    def ids(self, tracks: Sequence[str]) -> list[int]:
        return [self._index[t] for t in tracks]

    def track_labels(self, i: int) -> np.ndarray:
        return self.labels[self.rows(i)]

    def labelled(self, ids: Sequence[int]) -> int:
        return int(sum(np.count_nonzero(self.track_labels(i) >= 0) for i in ids))

    @property
    def tasks(self) -> list[str]:
        """The run's tasks: EXPR alone (no targets), else EXPR where some frame has an EXPR label, then VA, AU."""
        expr = not self.targets or bool((self.labels >= 0).any())
        return (["expr"] if expr else []) + [t for t in ("va", "au") if t in self.targets]

    def any_label(self, rows: slice | np.ndarray) -> np.ndarray:
        """(n,) True where a bank row has a label of any task (EXPR alone: ``labels >= 0``)."""
        ok = self.labels[rows] >= 0
        for task, v in self.targets.items():
            ok |= ~np.isnan(v[rows]).any(axis=1) if task == "va" else (v[rows] >= 0).all(axis=1)
        return ok

    def task_labelled(self, task: str, ids: Sequence[int]) -> int:
        """Frames of tracks ``ids`` with a ``task`` label."""
        if task == "expr":
            return self.labelled(ids)
        v = self.targets[task]
        return int(sum(np.count_nonzero(~np.isnan(v[self.rows(i)]).any(axis=1) if task == "va"
                                        else (v[self.rows(i)] >= 0).all(axis=1)) for i in ids))


def _plural(items: list[str], limit: int = 8) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def check_tracks(reader: FeatureStore, features: Sequence[str], tracks: Sequence[str],
                 labels: Mapping[str, np.ndarray] | None, on_missing: str = "error",
                 labels_dir: str | None = None) -> tuple[list[str], dict[str, FeatureInfo], dict[str, int]]:
    """Which tracks can be loaded: returns (tracks kept, feature facts, rows per track).

    A track missing from the store or lacking a complete feature is an error naming it (or,
    with ``on_missing="skip"``, a warning naming it); a label count that differs from the
    store's rows, or a feature whose dim changes between tracks, is always an error.
    """
    if not features:
        raise DataError("--features", "no features selected", "e.g. --features densenet,mae,hubert")
    missing: list[str] = []
    mismatch: list[str] = []
    lacking: set[str] = set()  # features some track lacks
    info: dict[str, FeatureInfo] = {}
    first: dict[str, str] = {}  # feature -> the track its reference facts come from
    rows: dict[str, int] = {}
    kept: list[str] = []
    for t in tracks:
        if not reader.has_track(t):
            missing.append(f"track {t!r} is not in the store")
            continue
        n = reader.n_frames(t)
        absent = []
        for f in features:
            fi = reader.feature(t, f)
            if fi is None:
                absent.append(f)
                continue
            ref = info.setdefault(f, fi)
            first.setdefault(f, t)
            if fi.dim != ref.dim:
                raise DataError(f"{reader.url}:{t}/{f}", f"has dim {fi.dim}, other tracks have {ref.dim}")
            if fi.identity != ref.identity:
                raise DataError(f"{reader.url}:{t}/{f}",
                                f"was made differently from other tracks' {f!r} ({describe_identity(fi.identity)} "
                                f"vs {describe_identity(ref.identity)} on {first[f]})",
                                f"re-extract {f!r} for all tracks with one extractor setup")
        if absent:
            lacking.update(absent)
            missing.append(f"track {t!r} has no complete {', '.join(map(repr, absent))} feature")
            continue
        if labels is not None and t in labels and len(labels[t]) != n:
            mismatch.append(f"track {t!r}: {len(labels[t])} labels but {n} rows in the store")
            continue
        rows[t] = n
        kept.append(t)
    if mismatch:
        raise DataError(reader.url, "label length does not match the stored rows: " + _plural(mismatch),
                        "re-extract with `featurizer extract --labels` on these annotation files")
    if missing and on_missing == "error":
        made_by = sorted(lacking, key=list(features).index)
        how = (f"make {', '.join(map(repr, made_by))} with `{extract_command(reader.url, made_by, labels_dir)}`, "
               if made_by else "")
        raise DataError(reader.url, _plural(missing),
                        how + "or --set data.on_missing=skip to leave these tracks out with a warning")
    for m in missing:
        warnings.warn(ExprnetWarning(f"{reader.url}: {m}; skipped"), stacklevel=2)
    return kept, info, rows


def _check_finite(values: np.ndarray, where: str) -> None:
    ok = np.isfinite(values).all(axis=1)
    if not ok.all():
        r = int(np.flatnonzero(~ok)[0])
        raise DataError(where, f"NaN or inf in the features ({int((~ok).sum())} rows, first row {r}, "
                               f"frame {r + 1:05d}.jpg)", "fix or re-extract this track")


F16_HEADROOM = 2.0**14  # scaled values stay below this (float16 max is 65504)


def column_ranges(reader: FeatureStore, tracks: Sequence[str], feature: str, dim: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) per column of a float32 feature: range midpoint, and a power of two that
    brings the centred values inside float16 (1 if they fit)."""
    lo = np.full(dim, np.inf)
    hi = np.full(dim, -np.inf)
    for t in tracks:
        v = reader.read_feature(t, feature).values
        _check_finite(v, f"{reader.url}:{t}/{feature}")
        if len(v):
            np.minimum(lo, v.min(axis=0), out=lo)
            np.maximum(hi, v.max(axis=0), out=hi)
    lo, hi = np.where(np.isfinite(lo), lo, 0.0), np.where(np.isfinite(hi), hi, 0.0)
    offset = (lo + hi) / 2
    k = np.ceil(np.log2(np.maximum((hi - lo) / 2, 1.0) / F16_HEADROOM)).clip(min=0)
    return offset, 2.0 ** -k


def load_bank(reader: FeatureStore, features: Sequence[str], tracks: Sequence[str],
              labels: Mapping[str, np.ndarray] | None = None, on_missing: str = "error",
              memmap: str | Path | None = None, workers: int = 4,
              progress: Callable[[str], None] | None = None, labels_dir: str | None = None) -> FeatureBank:
    """Read the selected features of ``tracks`` into one float16 buffer (see module doc);
    ``labels_dir`` only completes the extract command an error about a missing feature shows."""
    kept, info, rows = check_tracks(reader, features, tracks, labels, on_missing, labels_dir)
    dims = [info[f].dim for f in features] if kept else [0] * len(features)
    lengths = np.array([rows[t] for t in kept], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n, d = int(offsets[-1]), int(sum(dims))
    if memmap:
        Path(memmap).parent.mkdir(parents=True, exist_ok=True)
        values = np.lib.format.open_memmap(str(memmap), mode="w+", dtype=np.float16, shape=(n, d))
    else:
        values = np.empty((n, d), np.float16)
    present = np.empty((n, len(features)), bool)
    lab = np.full(n, -1, np.int8)
    cols = np.concatenate([[0], np.cumsum(dims)]).astype(int)
    scale, offset = np.ones(d), np.zeros(d)
    wide = [j for j, f in enumerate(features) if kept and np.dtype(info[f].dtype) != np.float16]
    for j in wide:
        offset[cols[j]:cols[j + 1]], scale[cols[j]:cols[j + 1]] = column_ranges(
            reader, kept, features[j], dims[j])

    def fill(i: int) -> str:
        t = kept[i]
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        for j, f in enumerate(features):
            v, p = (feat := reader.read_feature(t, f)).values, feat.present
            where = f"{reader.url}:{t}/{f}"
            if v.shape[0] != hi - lo or len(p) != hi - lo:
                raise DataError(where, f"has {v.shape[0]} rows, the track has {hi - lo}")
            _check_finite(v, where)
            c = slice(cols[j], cols[j + 1])
            values[lo:hi, c] = (v.astype(np.float64) - offset[c]) * scale[c] if j in wide else v
            present[lo:hi, j] = p
        if labels is not None and t in labels:
            lab[lo:hi] = labels[t]
        return t

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for t in pool.map(fill, range(len(kept))):
            if progress:
                progress(t)
    return FeatureBank(kept, offsets, values, present, lab, list(features), dims,
                       [info[f].modality if kept else "unknown" for f in features], scale, offset,
                       {f: info[f].identity for f in features if kept})


@dataclass
class Standardizer:
    """Per-column mean/std (raw feature units) fitted on training tracks only; applied per batch."""

    mean: np.ndarray  # (D,) float32
    std: np.ndarray  # (D,) float32
    features: list[str]
    dims: list[int]

    @classmethod
    def fit(cls, bank: FeatureBank, ids: Sequence[int], max_elems: int = 1 << 24) -> Standardizer:
        d = bank.dim
        chunk = max(1, max_elems // max(1, d))
        shift: np.ndarray | None = None
        s1 = np.zeros(d, np.float64)
        s2 = np.zeros(d, np.float64)
        count = 0
        for i in ids:
            r = bank.rows(i)
            for a in range(r.start, r.stop, chunk):
                x = bank.values[a:min(a + chunk, r.stop)].astype(np.float32)
                if shift is None:  # shifted sums keep the variance exact when |mean| >> std
                    shift = x.mean(axis=0)
                x -= shift
                s1 += x.sum(axis=0, dtype=np.float64)
                s2 += np.square(x).sum(axis=0, dtype=np.float64)
                count += len(x)
        if count == 0:
            raise DataError("training split", "no frames to compute feature statistics from")
        m = s1 / count
        var = np.maximum(s2 / count - m * m, 0.0)
        sc = np.asarray(bank.scale, np.float64)
        mean, std = (m + shift) / sc + bank.offset, np.sqrt(var) / sc  # back to raw units
        std[std < 1e-6 / sc] = 1.0  # constant columns (e.g. a silent audio feature) pass through
        return cls(mean.astype(np.float32), std.astype(np.float32), list(bank.features), list(bank.dims))

    def save(self, path: str | Path) -> None:
        import io

        from featurizer.core.files import atomic_write_bytes

        buf = io.BytesIO()
        np.savez(buf, mean=self.mean, std=self.std, features=np.array(self.features), dims=np.array(self.dims))
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> Standardizer:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["mean"], z["std"], [str(s) for s in z["features"]], [int(x) for x in z["dims"]])
