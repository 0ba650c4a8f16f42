"""exprnet from Python (notebooks, scripts): train a run, bundle runs, predict videos.

    import exprnet
    result = exprnet.train("runs/lstm", store="features.zarr", labels="annotations",
                           features="egemaps,fbank,hog", preset="demo")
    bundle = exprnet.make_bundle(["runs/lstm", "runs/baseline"], "bundle", store="features.zarr",
                                 labels="annotations")
    for track in exprnet.Bundle.load("bundle").predict("new.mp4"):
        track.probabilities, track.expression   # numpy arrays and names; track.to_pandas()
    exprnet.Bundle.load("bundle", trusted_keys="trusted.pub")  # only if signed by one of these keys

Each is the command-line path under another door (``exprnet train``, ``exprnet bundle``,
``exprnet infer``): the same config layering, run folders, bundles and errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import FLAG_KEYS, make_config
from .errors import ConfigError
from .reports.progress import NullReporter, Reporter
from .training.trainer import TrainResult


def train(out: str | Path, *, store: str | Path | None = None, labels: str | Path | None = None,
          features: str | Sequence[str] | None = None, preset: str | None = None, config: str | Path | None = None,
          overrides: Mapping[str, Any] | Sequence[str] | None = None, reporter: Reporter | None = None,
          **flags: Any) -> TrainResult:
    """Train one model into the run folder ``out`` (as ``exprnet train``): defaults < ``preset`` <
    ``config`` file < ``store``/``labels``/``features`` and ``flags`` (the command's flags by their
    Python names: encoder, epochs, batch_size, lr, seed, segment, d_model, layers, heads, hidden,
    device, steps) < ``overrides`` (dotted keys, e.g. ``{"model.dropout": 0.1}``)."""
    from .training import experiment

    unknown = sorted(set(flags) - set(FLAG_KEYS))
    if unknown:
        raise ConfigError(", ".join(unknown), "not a training flag",
                          f"use one of {', '.join(sorted(set(FLAG_KEYS) - {'store', 'labels', 'features'}))}, "
                          "or overrides={'section.key': value}")
    if features is not None and not isinstance(features, str):
        features = ",".join(features)
    paths = {k: None if v is None else str(v) for k, v in (("store", store), ("labels", labels))}
    cfg = make_config(preset, config, overrides, out, features=features, **paths, **flags)
    return experiment.train(cfg, out, reporter or NullReporter())


def make_bundle(runs: Sequence[str | Path], out: str | Path, *, store: str | Path,
                labels: str | Path | Sequence[str | Path],
                method: str = "oof", smooth: str = "default", select: str = "best", device: str = "cpu",
                detector: str | None = None, overwrite: bool = False, sign: str | Path | None = None) -> Any:
    """Fit the ensemble of ``runs`` on their validation split and write it as a bundle (as
    ``exprnet bundle``; ``sign``: an Ed25519 private key file, as ``--sign``); returns the loaded
    :class:`~exprnet.deploy.bundle.Bundle` (its signature checked, when signed)."""
    from .deploy import signing
    from .deploy.bundle import Bundle
    from .deploy.make import make_bundle as write

    key = signing.load_private_key(sign) if sign is not None else None
    dirs = [str(x) for x in labels] if isinstance(labels, (list, tuple)) else str(labels)
    path = write(list(runs), method, str(store), dirs, out, smooth, select, device=device, detector=detector,
                 overwrite=overwrite, sign=key)
    return Bundle.load(path, device=device, trusted_keys=None if key is None else [signing.public_of(key)])
