"""The one ``--smooth`` vocabulary, and decoders fitted on training tracks.

``--smooth`` (and ``smooth:`` of a run's config) takes ``none``, a smoothing
(``box|gauss|median[:WIDTH|:auto]``, :mod:`.smoothing`) or a decoder: ``viterbi`` or ``hsmm``
with ``:WEIGHT`` (the emission weight, e.g. ``viterbi:0.5``) or ``:auto`` (the default):

- the chain (transitions, durations) is always fitted on the training tracks' label sequences;
- ``auto`` chooses the emission weight and the balance (:mod:`.hmm`) by cross-validation
  over training source videos: the chain fitted on the other groups' labels, the held-out group's
  out-of-fold probabilities decoded, the pair with the best pooled F1 kept (:func:`choose_decoder`);
- ``KIND:optimistic`` (``exprnet ensemble`` only) chooses them on the validation labels it is
  scored on, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..reports.metrics import macro_f1
from .hmm import HMMDecoder, fit_hmm
from .hsmm import HSMMDecoder, fit_hsmm
from .smoothing import KINDS as SMOOTHING
from .smoothing import SmoothSpec, parse_spec, tracks_for_width

DECODERS = ("viterbi", "hsmm")
WEIGHTS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
BALANCES = (0.0, 0.5, 1.0)
FRAMES = {"viterbi": 300_000, "hsmm": 60_000}  # training frames an auto choice decodes at most (seeded tracks)
Decoder = HMMDecoder | HSMMDecoder
FITS: dict[str, Callable[..., Decoder]] = {"viterbi": fit_hmm, "hsmm": fit_hsmm}


@dataclass(frozen=True)
class DecodeSpec:
    """A decoder to fit: ``kind``, and an emission ``weight`` or None for ``auto``."""

    kind: str
    weight: float | None = None
    optimistic: bool = False

    @property
    def auto(self) -> bool:
        return self.weight is None and not self.optimistic

    def describe(self) -> str:
        return f"{self.kind} (weight {'optimistic' if self.optimistic else 'auto' if self.auto else self.weight})"


Spec = SmoothSpec | DecodeSpec


def parse(text: str, where: str = "--smooth", optimistic_ok: bool = False) -> Spec:
    """``none``, ``box:12``, ``gauss``, ``viterbi``, ``viterbi:auto``, ``hsmm:0.5``, ``KIND:optimistic``."""
    kind, _, arg = text.strip().lower().partition(":")
    if kind not in DECODERS:
        if kind not in SMOOTHING:
            raise ConfigError(f"{where} {text}", f"unknown kind {kind!r}",
                              "use none, box, gauss, median, viterbi or hsmm, optionally with :auto or a value "
                              "(e.g. box:12, viterbi:0.5)")
        return parse_spec(text, where, optimistic_ok)
    if arg in ("", "auto"):
        return DecodeSpec(kind)
    if arg == "optimistic":
        if not optimistic_ok:
            raise ConfigError(f"{where} {text}", "only `exprnet ensemble` fits a decoder on the validation labels",
                              f"use {kind}:auto (chosen on training tracks) or {kind}:WEIGHT")
        return DecodeSpec(kind, None, optimistic=True)
    try:
        weight = float(arg)
    except ValueError:
        weight = -1.0
    if not weight > 0:
        raise ConfigError(f"{where} {text}", f"emission weight {arg!r} is not a positive number or auto",
                          f"e.g. {kind}:0.5 or {kind}:auto")
    return DecodeSpec(kind, weight)


def spec_from_config(kind: str, width: int | str, weight: float | str) -> Spec:
    """``smooth:`` of a run's config as a spec."""
    if kind in DECODERS:
        return DecodeSpec(kind, None if weight == "auto" else float(weight))
    return SmoothSpec(kind, None if width == "auto" else int(width)) if kind != "none" else SmoothSpec()


def decode_labels(dec: Decoder, probs: Sequence[np.ndarray]) -> list[np.ndarray]:
    return dec.paths(probs)


def choose_decoder(kind: str, probs: Sequence[np.ndarray], labels: Sequence[np.ndarray], groups: Sequence[Sequence[int]],
                   prior: np.ndarray, weights: Sequence[float] = WEIGHTS, balances: Sequence[float] = BALANCES
                   ) -> tuple[Decoder, dict[str, Any]]:
    """``auto``: the (weight, balance) with the best F1 over ``groups`` of tracks (by source video),
    each group decoded with the chain of the others' labels; then the chain of all ``labels``.
    ``probs`` must be out-of-fold (or at least not fitted on ``labels``) for the choice to mean anything."""
    fit = FITS[kind]
    if len(groups) < 2:
        raise ConfigError(f"--smooth {kind}:auto", f"the training tracks come from {len(groups)} source video group(s)",
                          f"cross-validation needs two; give a weight, e.g. --smooth {kind}:0.5")
    y = np.concatenate([labels[i] for g in groups for i in g])
    scores: dict[str, float] = {}
    best: tuple[float, float, float] = (-1.0, 1.0, 0.0)
    for b in balances:
        for w in weights:
            pred = []
            for g in groups:
                held = set(g)
                dec = fit([labels[i] for i in range(len(labels)) if i not in held], prior, w, b)
                pred += decode_labels(dec, [probs[i] for i in g])
            f1 = macro_f1(y, np.concatenate(pred))
            scores[f"weight {w:g}, balance {b:g}"] = f1
            if f1 > best[0] + 1e-12:
                best = (f1, w, b)
    dec = fit(list(labels), prior, best[1], best[2])
    return dec, {"chosen_on": f"training tracks, {len(groups)}-fold cross-validation by source video",
                 "cv_f1": best[0], "cv_f1_by_param": scores}


def fit_decoder(spec: DecodeSpec, probs: Sequence[np.ndarray] | None, labels: Sequence[np.ndarray],
                groups: Sequence[Sequence[int]] | None, prior: np.ndarray, seed: int = 0
                ) -> tuple[Decoder, dict[str, Any]]:
    """A fixed weight: the chain of ``labels`` with it; ``auto``: :func:`choose_decoder` on a seeded
    subset of the tracks (at most ``FRAMES[kind]`` frames), ``groups`` indexing ``labels``."""
    if not spec.auto:
        return FITS[spec.kind](list(labels), prior, spec.weight, 0.0), {"chosen_on": "fixed"}
    assert probs is not None and groups is not None
    keep = tracks_for_width(list(range(len(labels))), [len(v) for v in labels], FRAMES[spec.kind], seed)
    pos = {i: k for k, i in enumerate(keep)}
    sub = [[pos[i] for i in g if i in pos] for g in groups]
    sub = [g for g in sub if g]
    dec, info = choose_decoder(spec.kind, [probs[i] for i in keep], [labels[i] for i in keep], sub, prior)
    if len(keep) < len(labels):  # the choice on the subset; the chain from every training track
        dec = FITS[spec.kind](list(labels), prior, dec.weight, dec.balance)
        info["chosen_on"] += f" ({sum(len(labels[i]) for i in keep):,} frames of {len(keep)} tracks)"
    return dec, info
