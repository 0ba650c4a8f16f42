"""Training throughput of exprnet on an Aff-Wild2-shaped synthetic store (CPU).

Aff-Wild2 scale (``--scale 1``): about 300 tracks, 1.5M frames, the paper's five features
densenet 342 + mae 768 + ires100 512 + ecapatdnn 512 + hubert 512 = 2,646 dims, float16.
``--scale`` shrinks the frame count (tracks: at least 8); the default runs in a few minutes here.

Measured, and printed side by side:
  (a) the data path alone: frames/s delivered as training batches (standardised float32 tensors)
      by exprnet's float16 bank, beside a loader that reads per-frame items from HDF5 in
      ``__getitem__`` (the authors' layout: one HDF5 file per feature, keyed ``video/00001``) on
      the same data, with 0 and 2 DataLoader workers;
  (b) a fixed number of R-Drop training steps of the LSTM and the Transformer at the paper's sizes
      (frames/s), and how much of the step time was spent waiting for data (prefetch thread);
  (c) peak RSS against the bar: float16 size of the selected features + 2 GiB.

    uv run python bench/train_throughput.py                 # default scale
    uv run python bench/train_throughput.py --scale 0.1 --steps 3
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
import zarr
from exprnet.config import build_config
from exprnet.data.bank import Standardizer, load_bank
from exprnet.data.batches import BatchBuilder, Prefetcher
from exprnet.data.segments import shuffled_segments, stream_plan
from exprnet.training.memory import tune_allocator
from exprnet.training.runfolder import RunFolder
from exprnet.training.trainer import Trainer
from featurizer.core.store import FeatureStore

FEATURES = {"densenet": 342, "mae": 768, "ires100": 512, "ecapatdnn": 512, "hubert": 512}
FULL_TRACKS, FULL_FRAMES = 300, 1_500_000


def rss_mib() -> float:
    """Peak resident set size of this process so far (a high-water mark)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plan_tracks(scale: float, rng: np.random.Generator) -> dict[str, int]:
    n_tracks = max(8, round(FULL_TRACKS * scale))
    total = max(n_tracks * 200, round(FULL_FRAMES * scale))
    w = rng.uniform(0.4, 1.6, n_tracks)
    lengths = np.maximum(100, np.round(w / w.sum() * total)).astype(int)
    names = [f"{i:03d}-30-1280x720{'_left' if i % 5 == 0 else ''}" for i in range(n_tracks)]
    return dict(zip(names, lengths.tolist(), strict=True))


def build_data(root: Path, tracks: dict[str, int], rng: np.random.Generator, hdf5: bool
               ) -> dict[str, np.ndarray]:
    """Zarr store per docs/store.md and (optionally) the authors' per-frame HDF5 files, same values."""
    store = zarr.open_group(str(root / "store.zarr"), mode="w")
    store.attrs.update({"format": "featurizer-store", "format_version": 1})
    tg = store.require_group("tracks")
    h5 = {f: h5py.File(root / f"{f}.h5", "w") for f in FEATURES} if hdf5 else {}
    labels: dict[str, np.ndarray] = {}
    try:
        for name, n in tracks.items():
            t = tg.require_group(name)
            t.create_array("timestamps", data=np.arange(n) / 30.0)
            t.create_array("frame_present", data=np.ones(n, bool))
            t.attrs.update({"n_frames": n, "source_video": f"{name}.mp4", "fps": 30.0})
            lab = np.repeat(rng.integers(-1, 8, n // 40 + 1), 40)[:n].astype(np.int8)
            labels[name] = lab
            for f, d in FEATURES.items():
                v = (rng.standard_normal((n, d), dtype=np.float32) + lab[:, None] * 0.1).astype(np.float16)
                g = t.require_group("features").create_group(f, attributes={"complete": False})
                g.create_array("values", shape=(n, d), dtype="float16", chunks=(min(n, 2048), d))
                g["values"][:] = v
                g.create_array("present", data=np.ones(n, bool))
                g.attrs.update({"complete": True, "extractor": f, "dim": d, "n_frames": n,
                                "modality": "audio" if f in ("ecapatdnn", "hubert") else "visual"})
                if hdf5:
                    grp = h5[f].create_group(name)
                    for i in range(n):
                        grp.create_dataset(f"{i + 1:05d}", data=v[i])
    finally:
        for fh in h5.values():
            fh.close()
    return labels


class HDF5Items(torch.utils.data.Dataset):
    """The authors' approach: every frame of a segment read from each feature's HDF5 file in
    ``__getitem__`` (handles opened once per worker process, the correct way to share them)."""

    def __init__(self, root: Path, segments: list, tracks: list[str], labels: dict[str, np.ndarray],
                 stats: Standardizer, seg: int):
        self.root, self.segments, self.tracks, self.labels = root, segments, tracks, labels
        self.mean, self.std, self.seg = stats.mean, stats.std, seg
        self.files: dict[str, h5py.File] | None = None

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, k: int):
        if self.files is None:
            self.files = {f: h5py.File(self.root / f"{f}.h5", "r") for f in FEATURES}
        s = self.segments[k]
        name = self.tracks[s.track]
        x = np.zeros((self.seg, sum(FEATURES.values())), np.float32)
        for j in range(s.length):
            key = f"{name}/{s.start + j + 1:05d}"
            x[j] = np.concatenate([self.files[f][key][()] for f in FEATURES])
        x[: s.length] = (x[: s.length] - self.mean) / self.std
        y = np.full(self.seg, -1, np.int64)
        y[: s.length] = self.labels[name][s.start:s.start + s.length]
        mask = np.zeros(self.seg, bool)
        mask[: s.length] = True
        return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask)


def time_batches(batches, limit_s: float) -> tuple[float, int]:
    """frames/s of an iterable of batches (ours: Batch; DataLoader: (x, y, mask))."""
    t0, frames = time.perf_counter(), 0
    for b in batches:
        frames += int(b.mask.sum()) if hasattr(b, "mask") else int(b[2].sum())
        if time.perf_counter() - t0 > limit_s:
            break
    return frames / (time.perf_counter() - t0), frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.01, help="fraction of Aff-Wild2 (1.0 = 1.5M frames)")
    ap.add_argument("--batch-size", type=int, default=32, help="segments per batch for (a)")
    ap.add_argument("--train-batch", type=int, default=8, help="segments per batch for (b)")
    ap.add_argument("--steps", type=int, default=3, help="timed training steps per encoder for (b)")
    ap.add_argument("--hdf5-seconds", type=float, default=20.0, help="time limit per HDF5 loader run")
    ap.add_argument("--no-hdf5", action="store_true", help="skip the HDF5 baseline (saves the write)")
    ap.add_argument("--workdir", default=None, help="where to build the data (default: a temp dir)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    tuned = tune_allocator()  # as the exprnet CLI does
    if a.threads:
        torch.set_num_threads(a.threads)

    rng = np.random.default_rng(a.seed)
    tracks = plan_tracks(a.scale, rng)
    n_frames, dim = sum(tracks.values()), sum(FEATURES.values())
    f16_mib = n_frames * dim * 2 / 2**20
    root = Path(a.workdir or tempfile.mkdtemp(prefix="exprnet-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"scale {a.scale}: {len(tracks)} tracks, {n_frames:,} frames x {dim:,} dims "
          f"({', '.join(f'{k} {v}' for k, v in FEATURES.items())}); float16 {f16_mib:,.0f} MiB; "
          f"torch threads {torch.get_num_threads()}; glibc mmap threshold fixed: {tuned}; data in {root}")
    try:
        t = time.perf_counter()
        labels = build_data(root, tracks, rng, hdf5=not a.no_hdf5)
        print(f"built the synthetic store{' and the HDF5 files' if not a.no_hdf5 else ''} in "
              f"{time.perf_counter() - t:.1f} s")
        rss_built = rss_mib()

        # (a) the data path ----------------------------------------------------------------
        names = list(tracks)
        t = time.perf_counter()
        bank = load_bank(FeatureStore(root / "store.zarr", mode="r"), list(FEATURES), names, labels)
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        stats = Standardizer.fit(bank, range(len(names)))
        stats_s = time.perf_counter() - t
        lengths = {i: bank.length(i) for i in range(len(names))}
        ep_rng = np.random.default_rng(1)
        b64, b128 = BatchBuilder(bank, stats, 64), BatchBuilder(bank, stats, 128)
        lstm_plan = stream_plan(lengths, a.batch_size, 64, ep_rng)
        tf_plan = shuffled_segments(lengths, a.batch_size, 128, 128, ep_rng)
        ours_lstm, _ = time_batches(Prefetcher(b64, lstm_plan, 0), 1e9)
        ours_tf, tf_frames = time_batches(Prefetcher(b128, tf_plan, 0), 1e9)
        ours_tf_pf, _ = time_batches(Prefetcher(b128, tf_plan, 2), 1e9)
        epoch_with_load = tf_frames / (load_s + stats_s + tf_frames / ours_tf)
        build_ms = 1e3 * a.batch_size * 128 / ours_tf
        h5_rates: dict[int, float] = {}
        if not a.no_hdf5:
            segs = [s for step in tf_plan for s in step]
            ds = HDF5Items(root, segs, names, labels, stats, 128)
            for workers in (0, 2):
                dl = torch.utils.data.DataLoader(ds, batch_size=a.batch_size, num_workers=workers, shuffle=False)
                h5_rates[workers], _ = time_batches(dl, a.hdf5_seconds)
        rss_data = rss_mib()

        # (b) training steps; phases run from lean to heavy (peak RSS is a high-water mark) --
        train_rows = {}
        n_val = max(1, len(names) // 8)
        for label, enc, ckpt in (("lstm", "lstm", False), ("transformer, checkpointed", "transformer", True),
                                 ("transformer", "transformer", False)):
            cfg = build_config({"data": {"features": list(FEATURES)},
                                "model": {"encoder": enc, "checkpoint": ckpt},
                                "train": {"batch_size": a.train_batch, "device": "cpu", "prefetch": 2}})
            tr = Trainer(cfg, bank, names[n_val:], names[:n_val], RunFolder(root / f"run-{enc}-{ckpt}"))
            tr.setup(resume=False)
            tr.train_epoch(1, max_steps=1)  # warm-up
            row = tr.train_epoch(2, max_steps=a.steps)
            train_rows[label] = (row, tr.cfg.model.segment, sum(p.numel() for p in tr.model.parameters()),
                                 rss_mib())
            del tr

        # report ----------------------------------------------------------------------------
        print(f"\n(a) data path: frames/s delivered as standardised float32 training batches "
              f"({a.batch_size} segments per batch)")
        print(f"    store -> float16 bank (once per run) {n_frames / load_s:>11,.0f} frames/s  ({load_s:.1f} s)")
        print(f"    feature statistics (once per run)    {n_frames / stats_s:>11,.0f} frames/s  ({stats_s:.1f} s)")
        print(f"    exprnet bank, LSTM plan (x64)        {ours_lstm:>11,.0f} frames/s")
        print(f"    exprnet bank, Transformer plan (x128){ours_tf:>11,.0f} frames/s  ({build_ms:.1f} ms per batch)")
        print(f"    exprnet bank, same, prefetch thread  {ours_tf_pf:>11,.0f} frames/s")
        print(f"    exprnet, one epoch incl. load + stats{epoch_with_load:>11,.0f} frames/s")
        for w, r in h5_rates.items():
            print(f"    HDF5 per-frame items, {w} workers     {r:>11,.0f} frames/s   exprnet/HDF5 = "
                  f"{ours_tf / r:6.1f}x  (incl. load + stats {epoch_with_load / r:.1f}x)")
        if h5_rates:
            worst = ours_tf / max(h5_rates.values())
            print(f"    bar: >= 3x the HDF5 item loader -> {worst:.1f}x  {'PASS' if worst >= 3 else 'FAIL'}")
        print(f"\n(b) training steps (R-Drop, paper sizes, {a.train_batch} segments per batch, {a.steps} timed "
              f"steps, CPU, {torch.get_num_threads()} threads)")
        for label, (row, seg, params, _) in train_rows.items():
            step_s = row["seconds"] / a.steps
            data_ms = 1e3 * a.train_batch * seg / (ours_lstm if seg == 64 else ours_tf)
            print(f"    {label:<26} segment {seg:>3} {params / 1e6:5.1f}M params {row['frames_per_s']:>7,.0f} "
                  f"frames/s {step_s:6.2f} s/step (its batch alone: {data_ms:5.1f} ms of data path); "
                  f"waited for data {100 * row['data_wait']:4.1f}% of the time -> loading "
                  f"{'hidden behind compute' if row['data_wait'] < 0.05 else 'NOT hidden'}")
        budget = f16_mib + 2048
        print(f"\n(c) memory: float16 features {f16_mib:,.0f} MiB, held once (bank {bank.values.nbytes / 2**20:,.0f} "
              f"MiB float16); bar = float16 size + 2 GiB = {budget:,.0f} MiB")
        print(f"    after imports and building the data  peak {rss_built:>7,.0f} MiB")
        for label, rss in [("data path (a)", rss_data)] + [(f"+ training {k}", v[3]) for k, v in train_rows.items()]:
            print(f"    {label:<36} peak {rss:>7,.0f} MiB  {rss / budget:5.2f} of the bar -> "
                  f"{'PASS' if rss < budget else 'FAIL'}")
    finally:
        if not a.workdir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
