"""ECAPA-TDNN speaker embeddings (speechbrain) of a window centred on each label frame.

One embedding per window of ``window`` seconds (default 2 s). Windows are computed on a coarser
grid (every ``hop`` seconds, default ``window / 5``) spanning the frames, then linearly
interpolated to each frame's timestamp; near the ends of the audio a window is shifted to lie
inside it (so every window has the full length and batches without padding). Windows go through
the checkpoint's own front end: ``compute_features`` (80-bin Fbank), ``mean_var_norm``
(per-window mean normalisation) and ``embedding_model``, as ``EncoderClassifier.encode_batch``.

``ecapatdnn:SECONDS`` sets the window (hop = window / 5). The public
``speechbrain/spkrec-ecapa-voxceleb`` embedding is 192-d (``lin_neurons: 192``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..registry import BATCH_SIZE, DEVICE, WEIGHTS, Extractor, Option, Timing, register

RECIPE = "1"
DEFAULT = "speechbrain/spkrec-ecapa-voxceleb"
DEFAULT_WINDOW = 2.0
MIN_SAMPLES = 800  # 50 ms: anything shorter gets zeros


def ecapa_timing(window: float = DEFAULT_WINDOW, hop: float | None = None) -> Timing:
    return Timing("frame_window", hop=hop if hop is not None else window / 5, window=window)


def parse_window(value: str | float | None) -> float:
    if value is None or value == "":
        return DEFAULT_WINDOW
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a window in seconds, e.g. 3") from None
    if not 0.1 <= w <= 60:
        raise ValueError("window must be 0.1-60 s")
    return w


def _variant(value: str) -> dict[str, Any]:
    return {"timing": ecapa_timing(parse_window(value))}


def interpolate_rows(grid: np.ndarray, rows: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of (G, D) rows at ``grid`` times to ``at`` times (held at the ends)."""
    if len(grid) == 1:
        return np.repeat(rows, len(at), axis=0)
    j = np.clip(np.searchsorted(grid, at, side="right"), 1, len(grid) - 1)
    t0, t1 = grid[j - 1], grid[j]
    w = np.clip((at - t0) / np.maximum(t1 - t0, 1e-12), 0.0, 1.0)[:, None]
    return ((1 - w) * rows[j - 1] + w * rows[j]).astype(np.float32)


@dataclass
class Ecapa(Extractor):
    mods: Any = field(default=None, repr=False)  # compute_features, mean_var_norm, embedding_model
    device: Any = None
    architecture: str = ""

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "architecture": self.architecture}

    def grid(self, centres: np.ndarray) -> np.ndarray:
        lo, hi = float(np.min(centres)), float(np.max(centres))
        hop = self.timing.hop or 0.0
        if hop <= 0 or hi - lo <= hop:
            return np.unique(np.array([lo, hi]))
        g = lo + hop * np.arange(int(np.floor((hi - lo) / hop)) + 1)
        return g if g[-1] >= hi - 1e-9 else np.append(g, hi)

    def window_starts(self, n_samples: int, sr: int, times: np.ndarray) -> tuple[np.ndarray, int]:
        length = min(n_samples, int(round(self.timing.window * sr)))
        starts = np.round(times * sr).astype(np.int64) - length // 2
        return np.clip(starts, 0, n_samples - length), length

    def embed(self, windows: np.ndarray) -> np.ndarray:
        import torch

        from ..device import inference

        out = np.empty((len(windows), self.dim), np.float32)
        bs = max(1, self.batch_size)
        with inference(self.device):
            for b in range(0, len(windows), bs):
                x = torch.from_numpy(np.ascontiguousarray(windows[b : b + bs], np.float32)).to(self.device)
                lens = torch.ones(len(x), device=self.device)
                feats = self.mods.compute_features(x)
                feats = self.mods.mean_var_norm(feats, lens)
                emb = self.mods.embedding_model(feats, lens)
                out[b : b + bs] = emb.reshape(len(x), -1).float().cpu().numpy()
        return out

    def extract_windows(self, wave: np.ndarray, sample_rate: int, centres: np.ndarray) -> np.ndarray:
        centres = np.asarray(centres, np.float64)
        if len(centres) == 0:
            return np.zeros((0, self.dim), np.float32)
        wave = np.asarray(wave, np.float32)
        if len(wave) < MIN_SAMPLES:
            return np.zeros((len(centres), self.dim), np.float32)
        grid = self.grid(centres)
        starts, length = self.window_starts(len(wave), sample_rate, grid)
        # windows as strided views of the wave: no copy until a batch is formed
        view = np.lib.stride_tricks.sliding_window_view(wave, length)
        rows = self.embed(view[starts])
        return interpolate_rows(grid, rows, centres)


def _strict_check(hparams: dict[str, Any], name: str, source: str) -> None:
    """speechbrain loads checkpoints non-strictly (warnings only): check the embedding model's.

    (Modules with their own savers, such as a global ``InputNormalization``, are not ours to use.)
    """
    from speechbrain.utils.checkpoints import torch_patched_state_dict_load

    from ..errors import WeightsError
    from ..weights import check_state_dict

    pre = hparams.get("pretrainer")
    obj = hparams.get("embedding_model")
    path = pre.paths.get("embedding_model") if pre is not None else None
    if obj is None or path is None or "embedding_model" not in pre.loadables:
        raise WeightsError(f"{name} weights {source}", "hyperparams.yaml loads no embedding_model "
                           "checkpoint", "expected the layout of speechbrain/spkrec-ecapa-voxceleb")
    sd = torch_patched_state_dict_load(path, "cpu")
    check_state_dict(obj.state_dict(), sd, name, f"{source} (embedding_model.ckpt)", type(obj).__name__)


def load_ecapa(weights: str | None, device: str | None, batch_size: int | None,
               window: str | float | None, hop: float | None) -> Extractor:
    from ..device import is_cuda, prepare_model, resolve_device
    from ..errors import WeightsError
    from ..weights import resolve

    try:
        win = parse_window(window)
    except ValueError as e:
        raise WeightsError(f"ecapatdnn:{window}", str(e)) from None
    dev = resolve_device(device)
    res = resolve("ecapatdnn", weights, DEFAULT, needs=("hyperparams.yaml",),
                  hub_patterns=(("*.yaml", "*.ckpt", "*.txt"),))
    if res.kind == "random":
        import torch
        from speechbrain.lobes.features import Fbank
        from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
        from speechbrain.processing.features import InputNormalization

        mods = torch.nn.ModuleDict({
            "compute_features": Fbank(n_mels=80),
            "mean_var_norm": InputNormalization(norm_type="sentence", std_norm=False),
            "embedding_model": ECAPA_TDNN(80, channels=[1024, 1024, 1024, 1024, 3072], lin_neurons=192),
        })
    elif res.kind == "speechbrain":
        import torch
        from speechbrain.inference.classifiers import EncoderClassifier

        text = (res.path / "hyperparams.yaml").read_text()
        overrides = {"pretrained_path": str(res.path)} if "\npretrained_path:" in "\n" + text else {}
        try:
            clf = EncoderClassifier.from_hparams(source=str(res.path), overrides=overrides,
                                                 run_opts={"device": "cpu"})
        except Exception as e:  # noqa: BLE001 - yaml, missing files, bad checkpoints
            raise WeightsError(f"ecapatdnn weights {res.source}", f"speechbrain cannot load this folder "
                               f"({type(e).__name__}: {str(e).splitlines()[0][:300]})",
                               "pass a folder like speechbrain/spkrec-ecapa-voxceleb") from None
        _strict_check(clf.hparams.__dict__ if hasattr(clf.hparams, "__dict__") else dict(clf.hparams),
                      "ecapatdnn", res.source)
        mods = torch.nn.ModuleDict({k: clf.mods[k] for k in
                                    ("compute_features", "mean_var_norm", "embedding_model")})
    else:
        raise WeightsError(f"ecapatdnn weights {res.source}", "expected a speechbrain folder "
                           "(hyperparams.yaml + embedding_model.ckpt)", f"e.g. --weights ecapatdnn={DEFAULT}")
    emb = mods["embedding_model"]
    dim = int(emb.fc.conv.out_channels) if hasattr(emb, "fc") else _probe_dim(mods)
    mods = prepare_model(mods, dev, half=False)
    return Ecapa(name="ecapatdnn", modality="audio", dim=dim, timing=ecapa_timing(win, hop),
                 recipe_version=RECIPE, weights_id=res.weights_id, weights_sha256=res.sha256,
                 layer="embedding", batch_size=batch_size or (64 if is_cuda(dev) else 8),
                 mods=mods, device=dev, architecture=f"speechbrain {type(emb).__name__}")


def _probe_dim(mods: Any) -> int:
    import torch

    with torch.inference_mode():
        x = torch.zeros(1, 16000)
        f = mods["mean_var_norm"](mods["compute_features"](x), torch.ones(1))
        return int(mods["embedding_model"](f, torch.ones(1)).shape[-1])


@register("ecapatdnn", modality="audio", dim=192, timing=ecapa_timing(), recipe_version=RECIPE,
          weights_source=DEFAULT, needs_weights=True, variant_option="window", variant=_variant,
          options=(WEIGHTS, DEVICE, BATCH_SIZE, Option("hop", float, "seconds between embedded windows")),
          trained_on="speech", licence="Apache-2.0", paper_weights_public=False, standin=True,
          description="speechbrain ECAPA-TDNN speaker embedding (VoxCeleb, 192-d; the paper's 512-d "
                      "checkpoint is not public) of a 2 s window around each frame")
def ecapatdnn(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
              window: str | float | None = None, hop: float | None = None) -> Extractor:
    return load_ecapa(weights, device, batch_size, window, hop)
