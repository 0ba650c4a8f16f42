"""VGGish (torchvggish's port of the AudioSet model): 128-d embeddings of 0.96 s log-mel patches.

Input: torchvggish's own log-mel front end (``mel_features``: 25 ms Hann windows every 10 ms,
64 mel bands 125-7500 Hz, log(x + 0.01)), framed into patches of 96 frames. STFT frame j covers
samples [160 j, 160 j + 400), so patch k (hop H frames) covers [160 H k, 160 H k + 15600): it is
centred at 0.4875 s + k * H * 10 ms and sees 0.975 s. The default hop is VGGish's own 96 frames
(0.96 s, no overlap); ``vggish:HOP_MS`` (e.g. ``vggish:240``) takes a multiple of 10 ms.

Rows per label frame (``frame_window`` timing): each frame takes the patch whose centre is
nearest its timestamp, i.e. the patch whose 0.975 s window holds it, so every frame with audio
is present (with ``hop`` timing, 0.96 s rows against 25 fps frames left 24 of 25 frames without
a row, filled and marked not present). Audio shorter than one patch is padded with silence.

Output: the embedding layer (ReLU of the last 128-unit layer). If the state dict also holds the
AudioSet PCA parameters (``pca_eigen_vectors``, ``pca_means``, as in torchvggish's
``vggish_pca_params`` file), they are applied with clipping and 8-bit quantisation, like
``torchvggish.vggish(postprocess=True)``, and the layer is recorded as ``pca``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..registry import DEEP_OPTIONS, Extractor, Timing, register

RECIPE = "2"  # 2: one row per label frame (the patch holding it), frame_window timing
DEFAULT_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth"
SR = 16_000
STFT_WIN, STFT_HOP = 400, 160  # samples
PATCH = 96  # log-mel frames per example
DEFAULT_HOP_FRAMES = 96


SPAN = (PATCH - 1) * STFT_HOP + STFT_WIN  # 15600 samples, 0.975 s
MIN_SAMPLES = 800  # 50 ms: anything shorter gets zeros


def vggish_timing(hop_frames: int = DEFAULT_HOP_FRAMES) -> Timing:
    """Patches every ``hop_frames`` x 10 ms, the first centred at 0.4875 s; one per label frame."""
    return Timing("frame_window", hop=hop_frames * STFT_HOP / SR, window=SPAN / SR, offset=SPAN / 2 / SR)


def parse_hop(value: str | int | float | None) -> int:
    """``vggish:HOP_MS`` -> hop in 10 ms log-mel frames."""
    if value is None or value == "":
        return DEFAULT_HOP_FRAMES
    try:
        ms = float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a hop in milliseconds, e.g. 240") from None
    frames = ms / 10.0
    if frames < 1 or abs(frames - round(frames)) > 1e-6:
        raise ValueError("hop must be a positive multiple of 10 ms")
    return int(round(frames))


def _variant(value: str) -> dict[str, Any]:
    return {"timing": vggish_timing(parse_hop(value))}


@dataclass
class VGGish(Extractor):
    model: Any = field(default=None, repr=False)
    device: Any = None
    hop_frames: int = DEFAULT_HOP_FRAMES
    pca: tuple[Any, Any] | None = field(default=None, repr=False)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "architecture": "torchvggish VGG (postprocess off)",
                "hop_frames": self.hop_frames}

    def patch_centres(self, n: int) -> np.ndarray:
        """Centres (seconds from the audio's start) of the first ``n`` patches."""
        return self.timing.offset + self.timing.hop * np.arange(n, dtype=np.float64)

    def extract_windows(self, wave: np.ndarray, sample_rate: int, centres: np.ndarray) -> np.ndarray:
        """Each frame centre -> the embedding of the patch whose centre is nearest (whose window
        holds it)."""
        centres = np.asarray(centres, np.float64)
        wave = np.asarray(wave, np.float32)
        if len(centres) == 0 or len(wave) < MIN_SAMPLES:
            return np.zeros((len(centres), self.dim), np.float32)
        if len(wave) < SPAN:
            wave = np.pad(wave, (0, SPAN - len(wave)))
        (rows,) = self.extract_audio([wave], sample_rate)
        k = np.clip(np.rint((centres - self.timing.offset) / self.timing.hop), 0, len(rows) - 1)
        return rows[k.astype(np.int64)]

    def examples(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        """(n, 96, 64) log-mel patches exactly as ``torchvggish.waveform_to_examples``."""
        from torchvggish import mel_features
        from torchvggish import vggish_params as p

        if sample_rate != SR:
            raise ValueError(f"VGGish expects {SR} Hz audio, got {sample_rate}")
        if len(wave) < (PATCH - 1) * STFT_HOP + STFT_WIN:
            return np.zeros((0, PATCH, p.NUM_BANDS), np.float32)
        log_mel = mel_features.log_mel_spectrogram(
            np.asarray(wave, np.float64), audio_sample_rate=SR, log_offset=p.LOG_OFFSET,
            window_length_secs=p.STFT_WINDOW_LENGTH_SECONDS, hop_length_secs=p.STFT_HOP_LENGTH_SECONDS,
            num_mel_bins=p.NUM_MEL_BINS, lower_edge_hertz=p.MEL_MIN_HZ, upper_edge_hertz=p.MEL_MAX_HZ)
        return mel_features.frame(log_mel, window_length=PATCH, hop_length=self.hop_frames).astype(np.float32)

    def extract_audio(self, waves: Sequence[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        import torch

        from ..precision import autocast, inference, to_device

        per_wave = [self.examples(w, sample_rate) for w in waves]
        flat = np.concatenate(per_wave) if per_wave else np.zeros((0, PATCH, 64), np.float32)
        rows = np.zeros((len(flat), self.dim), np.float32)
        bs = max(1, self.batch_size)
        with inference(self.device):
            for b in range(0, len(flat), bs):
                with autocast(self.device, self.precision):  # the PCA stays float32
                    y = self.model(to_device(torch.from_numpy(flat[b : b + bs, None]), self.device))
                y = y.float()
                if self.pca is not None:
                    mat, means = self.pca
                    y = torch.mm(mat, (y.t() - means)).t()
                    y = torch.round((torch.clamp(y, -2.0, 2.0) + 2.0) * (255.0 / 4.0))
                rows[b : b + bs] = y.cpu().numpy()
        out, start = [], 0
        for ex in per_wave:
            out.append(rows[start : start + len(ex)])
            start += len(ex)
        return out


PCA_KEYS = (("pca_eigen_vectors", "pca_means"), ("pproc._pca_matrix", "pproc._pca_means"))


def load_vggish(weights: str | None, device: str | None, batch_size: int | None,
                hop: str | int | None, precision: str | None = None) -> Extractor:
    from ..core.device import is_cuda, resolve_device
    from ..errors import WeightsError
    from ..precision import prepare_model, resolve_precision
    from ..weights import load_into, load_state_dict_file, resolve

    try:
        hop_frames = parse_hop(hop)
    except ValueError as e:
        raise WeightsError(f"vggish:{hop}", str(e)) from None
    res = resolve("vggish", weights, DEFAULT_URL)  # first: a missing download fails before torch loads
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev, "vggish", prefer_fp32=True)
    import torch
    from torchvggish.torchvggish import VGG, make_layers

    model = VGG(make_layers(), postprocess=False)
    pca = None
    if res.kind != "random":
        if res.kind != "file":
            raise WeightsError(f"vggish weights {res.source}", "expected a VGGish state-dict file",
                               "e.g. vggish-10086976.pth from torchvggish's releases")
        sd = load_state_dict_file(res.path, "vggish")
        for mk, bk in PCA_KEYS:
            if mk in sd and bk in sd:
                pca = (torch.as_tensor(sd.pop(mk)).float(), torch.as_tensor(sd.pop(bk)).float().reshape(-1, 1))
        load_into(model, sd, "vggish", res.source, "torchvggish VGG")
    model = prepare_model(model, dev)
    if pca is not None:
        pca = (pca[0].to(dev), pca[1].to(dev))
    return VGGish(name="vggish", modality="audio", dim=128, timing=vggish_timing(hop_frames),
                  recipe_version=RECIPE, weights_id=res.weights_id, weights_sha256=res.sha256,
                  layer="pca" if pca is not None else "embedding",
                  batch_size=batch_size or (256 if is_cuda(dev) else 32), model=model, device=dev,
                  hop_frames=hop_frames, pca=pca, precision=prec)


@register("vggish", modality="audio", dim=128, timing=vggish_timing(), recipe_version=RECIPE,
          weights_source=DEFAULT_URL, needs_weights=True, variant_option="hop", variant=_variant,
          options=DEEP_OPTIONS, trained_on="audio", licence="Apache-2.0",
          paper_weights_public=True,
          description="VGGish (torchvggish, AudioSet) 128-d embedding of the 0.96 s log-mel patch holding each frame")
def vggish(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
           hop: str | int | None = None, precision: str | None = None) -> Extractor:
    return load_vggish(weights, device, batch_size, hop, precision)
