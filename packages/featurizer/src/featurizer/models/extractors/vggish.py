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

Output (recipe 3): Google's VGGish embedding, the 128-d output of the last layer *before* its
activation (``vggish_slim``'s ``fc2`` has none; torchvggish's port adds a ReLU, which is left
out here). ``postprocess=true`` gives torchvggish's default output instead: its ReLU output through
AudioSet's PCA (with whitening), clipped to [-2, 2] and quantised to 0..255 (``layer`` ``pca``),
exactly ``torchvggish``'s ``Postprocessor``. The PCA parameters (``pca_eigen_vectors``,
``pca_means``) come from the ``pproc.*`` tensors of a torchvggish ``VGGish`` state dict, from the
option ``pca`` (a ``vggish_pca_params-*.pth`` file or URL), from that file beside the weights in
the folder given as weights, or, with the default weights, from torchvggish's release URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..registry import DEEP_OPTIONS, Extractor, Option, Timing, register

# 2: one row per label frame (the patch holding it), frame_window timing; 3: the pre-activation
# embedding by default (was torchvggish's post-ReLU one)
RECIPE = "3"
DEFAULT_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth"
PCA_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish_pca_params-970ea276.pth"
POSTPROCESS = Option("postprocess", bool, "torchvggish's output: PCA + 8-bit quantisation of the ReLU "
                     "output (default false: Google's pre-activation embedding)")
PCA = Option("pca", str, "AudioSet PCA parameters for postprocess: a vggish_pca_params-*.pth file or URL "
             "(default: the weights' pproc.* tensors, the file beside them, or torchvggish's release)")
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
    pca_id: str | None = None  # where the PCA parameters came from, and their sha256
    pca_sha256: str | None = None

    def provenance(self) -> dict[str, Any]:
        post = self.pca is not None
        arch = ("torchvggish VGG + Postprocessor (PCA, 8-bit)" if post else
                "torchvggish VGG, last ReLU left out (Google's embedding)")
        extra = {"pca_id": self.pca_id, "pca_sha256": self.pca_sha256} if post else {}
        return {**super().provenance(), "architecture": arch, "postprocess": post,
                "hop_frames": self.hop_frames, **extra}

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


# Where PCA parameters sit in a state dict: the release's params file, and the pproc.* tensors of
# torchvggish's VGGish module (its Parameters are pca_matrix / pca_means; some forks say
# pca_eigen_vectors; its first release kept _pca_matrix / _pca_means).
PCA_MATRIX = ("pca_eigen_vectors", "pca_matrix", "_pca_matrix")
PCA_MEANS = ("pca_means", "_pca_means")


def split_pca(sd: dict[str, Any], subject: str) -> tuple[dict[str, Any], tuple[Any, Any] | None]:
    """``sd`` without its PCA tensors (top level or ``pproc.*``) and those tensors (matrix, means
    as a column), or None; unknown ``pproc.*`` keys are an error, never dropped silently."""
    import torch

    from ...errors import WeightsError

    for prefix in ("pproc.", ""):
        mk = next((prefix + k for k in PCA_MATRIX if prefix + k in sd), None)
        bk = next((prefix + k for k in PCA_MEANS if prefix + k in sd), None)
        if mk and bk:
            rest = {k: v for k, v in sd.items() if k not in (mk, bk)}
            mat = torch.as_tensor(sd[mk]).float()
            means = torch.as_tensor(sd[bk]).float().reshape(-1, 1)
            if tuple(mat.shape) != (128, 128) or tuple(means.shape) != (128, 1):
                raise WeightsError(subject, f"PCA parameters of shape {tuple(mat.shape)} and {tuple(means.shape)}, "
                                   "expected (128, 128) and 128", "pass AudioSet's vggish_pca_params file")
            sd, pca = rest, (mat, means)
            break
    else:
        pca = None
    odd = sorted(k for k in sd if k.startswith("pproc."))
    if odd:
        raise WeightsError(subject, f"pproc.* tensors that are not PCA parameters ({', '.join(odd[:4])})",
                           "expected pproc.pca_matrix and pproc.pca_means (torchvggish's VGGish)")
    return sd, pca


def _pair_in_folder(folder: Any, subject: str) -> tuple[str, str | None]:
    """A folder holding the VGGish weights and, optionally, ``vggish_pca_params-*.pth`` beside them."""
    from ...errors import WeightsError
    from ..weights import STATE_DICT_SUFFIXES

    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in STATE_DICT_SUFFIXES)
    pca = [f for f in files if "pca" in f.name.lower()]
    model = [f for f in files if f not in pca]
    if len(model) != 1 or len(pca) > 1:
        raise WeightsError(subject, f"folder has {len(model)} VGGish weights file(s) and {len(pca)} PCA "
                           "file(s)", "keep vggish-10086976.pth and vggish_pca_params-970ea276.pth there, "
                           "or pass the files themselves")
    return str(model[0]), (str(pca[0]) if pca else None)


def _pca_params(res: Any, subject: str) -> tuple[Any, Any]:
    from ...errors import WeightsError
    from ..weights import load_state_dict_file

    if res.kind != "file":
        raise WeightsError(subject, "expected a vggish_pca_params file", f"e.g. {PCA_URL}")
    _, pca = split_pca(load_state_dict_file(res.path, "vggish"), f"vggish pca {res.source}")
    if pca is None:
        raise WeightsError(f"vggish pca {res.source}", "holds no pca_eigen_vectors and pca_means",
                           f"pass AudioSet's PCA parameters, e.g. {PCA_URL}")
    return pca


def load_vggish(weights: str | None, device: str | None, batch_size: int | None,
                hop: str | int | None, precision: str | None = None, postprocess: bool | None = None,
                pca: str | None = None) -> Extractor:
    import warnings
    from pathlib import Path

    from ...core.device import is_cuda, resolve_device
    from ...errors import WeightsError
    from ..precision import prepare_model, resolve_precision
    from ..weights import load_into, load_state_dict_file, resolve

    try:
        hop_frames = parse_hop(hop)
    except ValueError as e:
        raise WeightsError(f"vggish:{hop}", str(e)) from None
    beside = None
    if weights and Path(weights).expanduser().is_dir():
        weights, beside = _pair_in_folder(Path(weights).expanduser(), f"vggish weights {weights}")
    res = resolve("vggish", weights, DEFAULT_URL)  # first: a missing download fails before torch loads
    pca_src = pca or beside or (PCA_URL if postprocess and res.source == DEFAULT_URL else None)
    pca_res = resolve("vggish", pca_src, None) if postprocess and pca_src else None
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev, "vggish", prefer_fp32=True)
    import torch
    from torchvggish.torchvggish import VGG, make_layers

    model = VGG(make_layers(), postprocess=False)
    params = None
    if res.kind != "random":
        if res.kind != "file":
            raise WeightsError(f"vggish weights {res.source}", "expected a VGGish state-dict file",
                               "e.g. vggish-10086976.pth from torchvggish's releases")
        sd, params = split_pca(load_state_dict_file(res.path, "vggish"), f"vggish weights {res.source}")
        load_into(model, sd, "vggish", res.source, "torchvggish VGG")
    pca_id, pca_sha = (res.source, res.sha256) if params is not None else (None, None)
    if pca_res is not None:
        params, pca_id, pca_sha = _pca_params(pca_res, f"vggish pca {pca_res.source}"), pca_res.source, pca_res.sha256
    if postprocess and params is None:
        raise WeightsError(f"vggish weights {res.source}", "postprocess needs AudioSet's PCA parameters, and "
                           "these weights carry none", f"add --option vggish.pca={PCA_URL} (or a local copy)")
    if not postprocess:
        if params is not None:
            warnings.warn(f"vggish weights {res.source} carry torchvggish's PCA parameters (pproc.*); rows are "
                          "the embedding before them (--option vggish.postprocess=true applies them)",
                          UserWarning, stacklevel=2)
        params = None
        model.embeddings[-1] = torch.nn.Identity()  # Google's embedding: no activation on the last layer
    model = prepare_model(model, dev)
    if params is not None:
        params = (params[0].to(dev), params[1].to(dev))
    return VGGish(name="vggish", modality="audio", dim=128, timing=vggish_timing(hop_frames),
                  recipe_version=RECIPE, weights_id=res.weights_id, weights_sha256=res.sha256,
                  layer="pca" if params is not None else "embedding",
                  batch_size=batch_size or (256 if is_cuda(dev) else 32), model=model, device=dev,
                  hop_frames=hop_frames, pca=params, pca_id=pca_id, pca_sha256=pca_sha, precision=prec)


@register("vggish", modality="audio", dim=128, timing=vggish_timing(), recipe_version=RECIPE,
          weights_source=DEFAULT_URL, needs_weights=True, variant_option="hop", variant=_variant,
          options=(*DEEP_OPTIONS, POSTPROCESS, PCA), trained_on="audio", licence="Apache-2.0",
          paper_weights_public=True,
          description="VGGish (torchvggish, AudioSet) 128-d embedding of the 0.96 s log-mel patch holding each frame")
def vggish(weights: str | None = None, device: str | None = None, batch_size: int | None = None,
           hop: str | int | None = None, precision: str | None = None, postprocess: bool | None = None,
           pca: str | None = None) -> Extractor:
    return load_vggish(weights, device, batch_size, hop, precision, postprocess, pca)
