"""Load on `featurizer serve`: latency vs offline extraction of the same clip, 16 clients, memory.

Starts `featurizer serve` on 127.0.0.1 (a free port), encodes a clip (default 10 s, 160x120, with
voice), and prints side by side:

- offline: `featurizer extract` of the same file in this process (``featurizer.extract`` with the models
  already loaded, into a fresh store each time), server idle;
- one client: median / p99 latency of sequential requests, interleaved with the offline runs so
  both see the same machine noise, and the ratio to offline (the fair comparison for the 1.5x
  target: no queueing);
- N clients (default 16) for T seconds: median / p99 latency (includes waiting for one of the
  server's compute slots), requests/s, errors (anything but 200; target 0);
- the server's RSS at start, after warm-up and at the end (target: end within 10% of warm-up).

Everything is bounded: T seconds of load, a cap on requests, a timeout per request.

    uv run python bench/serve_load.py [--clients 16] [--seconds 30] [--clip-seconds 10]
                                      [--models egemaps,fbank] [--format json|npz]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psutil
from featurizer import ModelCache, extract
from featurizer.demo import draw_face, encode_video


def make_clip(path: Path, seconds: float, fps: int = 25, w: int = 160, h: int = 120) -> Path:
    n = int(seconds * fps)
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        img = np.full((h, w, 3), 90, np.uint8)
        draw_face(img, w / 2 + 3 * np.sin(i / 5), h / 2, 0.55, np.array([0, 0, 1, 0.5, 0.2, 1.0]), (200, 170, 150))
        frames.append(img)
    t = np.arange(int(seconds * 16000)) / 16000
    voice = 0.3 * np.sin(2 * np.pi * 170 * t * (1 + 0.05 * np.sin(2 * np.pi * t))) * (0.6 + 0.4 * np.sin(6 * np.pi * t))
    audio = (voice + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    return encode_video(path, frames, fps, audio)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


class Offline:
    """`featurizer extract` of the clip in this process, its models loaded once (as the server's
    are): ``featurizer.extract`` on that cache into a fresh store each run, the store removed after."""

    def __init__(self, clip: Path, models: str, work: Path):
        self.clip, self.models, self.work = clip, models.split(","), work
        self.cache = ModelCache.for_models(self.models)
        for name in self.models:
            self.cache.get(name)
        self.n = 0
        self.once()  # warm-up

    def once(self) -> float:
        self.n += 1
        out = self.work / f"offline-{self.n}.zarr"
        t0 = time.perf_counter()
        rep = extract([self.clip], self.models, out, cache=self.cache)
        dt = time.perf_counter() - t0
        assert rep.ok, (rep.problems, [r.error for r in rep.failed])
        shutil.rmtree(out)
        return dt


class Load:
    """Clients posting the clip until the deadline or the request cap."""

    def __init__(self, url: str, data: bytes, params: dict, headers: dict):
        self.url, self.data, self.params, self.headers = url, data, params, headers
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()
        self.count = 0

    def one(self, client: httpx.Client) -> None:
        t0 = time.perf_counter()
        try:
            r = client.post("/v1/features", params=self.params, headers=self.headers,
                            files={"file": ("clip.mp4", self.data)})
            err = None if r.status_code == 200 else f"HTTP {r.status_code}: {r.text[:120]}"
        except httpx.HTTPError as e:
            err = f"{e.__class__.__name__}: {e}"
        dt = time.perf_counter() - t0
        with self.lock:
            if err is None:
                self.latencies.append(dt)
            else:
                self.errors[err] = self.errors.get(err, 0) + 1

    def run(self, clients: int, seconds: float, max_requests: int) -> float:
        deadline = time.perf_counter() + seconds
        t0 = time.perf_counter()

        def worker() -> None:
            with httpx.Client(base_url=self.url, timeout=120) as c:
                while time.perf_counter() < deadline:
                    with self.lock:
                        if self.count >= max_requests:
                            return
                        self.count += 1
                    self.one(c)

        with ThreadPoolExecutor(clients) as ex:
            for f in [ex.submit(worker) for _ in range(clients)]:
                f.result()
        return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0, help="duration of the N-client load")
    ap.add_argument("--single-seconds", type=float, default=15.0,
                    help="duration of the one-client run (interleaved with offline runs)")
    ap.add_argument("--clip-seconds", type=float, default=10.0)
    ap.add_argument("--models", default="egemaps,fbank")
    ap.add_argument("--format", choices=("json", "npz"), default="json")
    ap.add_argument("--max-concurrency", type=int, default=None, help="server slots (default: CPU count)")
    ap.add_argument("--offline-torch-threads", type=int, default=None,
                    help="torch threads of the offline runs (default: torch's, as `featurizer extract`)")
    ap.add_argument("--max-requests", type=int, default=20_000, help="cap per phase")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    clip = make_clip(work / "clip.mp4", args.clip_seconds)
    data = clip.read_bytes()
    port = free_port()
    key = "bench-key"
    cmd = [sys.executable, "-m", "featurizer.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--models", args.models, "--temp-dir", str(work / "spool"), "--log-level", "warning"]
    if args.max_concurrency:
        cmd += ["--max-concurrency", str(args.max_concurrency)]
    log = (work / "server.log").open("w")
    proc = subprocess.Popen(cmd, env={**os.environ, "FEATURIZER_API_KEY": key}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                print((work / "server.log").read_text())
                return 2
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                print("server did not start within 120 s")
                return 2
            time.sleep(0.2)
        rss_start = rss_mib(proc.pid)
        if args.offline_torch_threads:
            import torch

            torch.set_num_threads(args.offline_torch_threads)
        off = Offline(clip, args.models, work)

        params = {"models": args.models, "format": args.format}
        headers = {"X-API-Key": key}
        warm = Load(url, data, params, headers)
        warm.run(args.clients, min(5.0, args.seconds), 4 * args.clients)
        rss_warm = rss_mib(proc.pid)

        # One client, interleaved with offline runs of the same clip, so both see the same noise
        # from whatever else runs on the machine; the server is idle during offline runs.
        single = Load(url, data, params, headers)
        offline_times: list[float] = []
        ratios: list[float] = []
        t_end = time.perf_counter() + args.single_seconds
        with httpx.Client(base_url=url, timeout=120) as c:
            while time.perf_counter() < t_end and len(offline_times) < args.max_requests:
                offline_times.append(off.once())
                n_ok = len(single.latencies)
                single.one(c)
                if len(single.latencies) > n_ok:
                    ratios.append(single.latencies[-1] / offline_times[-1])

        load = Load(url, data, params, headers)
        rss_samples: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                rss_samples.append(rss_mib(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        wall = load.run(args.clients, args.seconds, args.max_requests)
        stop.set()
        sampler.join()
        rss_end = rss_mib(proc.pid)
        spool_left = list((work / "spool").iterdir()) if (work / "spool").exists() else []
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)

    n_frames = int(args.clip_seconds * 25)
    offline = pct(offline_times, 50)
    s_med, l_med = pct(single.latencies, 50), pct(load.latencies, 50)
    ratio = s_med / offline
    pair = pct(ratios, 50)
    errors = sum(load.errors.values()) + sum(single.errors.values())
    growth = rss_end / rss_warm
    print(f"machine load average (1/5/15 min) at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          "(other processes share the cores: figures are relative)")
    print(f"featurizer serve load: {args.clip_seconds:g} s clip ({n_frames} frames, {len(data) / 1024:.0f} KiB), "
          f"models {args.models}, {args.format}, server slots {args.max_concurrency or os.cpu_count()}, "
          f"{os.cpu_count()} cores")
    print(f"{'offline extract (in process)':34s} median {offline * 1000:8.1f} ms   p99 {pct(offline_times, 99) * 1000:8.1f} ms"
          f"   ({len(offline_times)} runs interleaved with the one-client requests, "
          f"torch threads {args.offline_torch_threads or 'default'})")
    print(f"{'1 client (sequential)':34s} median {s_med * 1000:8.1f} ms   p99 {pct(single.latencies, 99) * 1000:8.1f} ms"
          f"   ratio of medians {ratio:.2f}x, median of paired ratios {pair:.2f}x "
          f"(target <= 1.5x: {'ok' if max(ratio, pair) <= 1.5 else 'MISSED'})")
    print(f"{f'{args.clients} clients, {wall:.0f} s':34s} median {l_med * 1000:8.1f} ms   p99 {pct(load.latencies, 99) * 1000:8.1f} ms"
          f"   {len(load.latencies) / wall:6.2f} req/s   {len(load.latencies)} ok, {sum(load.errors.values())} errors "
          f"(target 0: {'ok' if not errors else 'MISSED'})")
    print(f"{'  per request, slots busy':34s} median / offline {l_med / offline:.2f}x "
          f"(queueing: {args.clients} clients share the slots)")
    print(f"{'server RSS (MiB)':34s} start {rss_start:7.1f}   after warm-up {rss_warm:7.1f}   end {rss_end:7.1f}"
          f"   max during load {max(rss_samples, default=rss_end):7.1f}   end / warm-up {growth:.3f} "
          f"(target <= 1.10: {'ok' if growth <= 1.10 else 'MISSED'})")
    print(f"{'upload folders left':34s} {len(spool_left)}")
    for e, n in list(load.errors.items())[:5] + list(single.errors.items())[:5]:
        print(f"  error x{n}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
