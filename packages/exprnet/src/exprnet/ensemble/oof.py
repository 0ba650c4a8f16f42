"""``--method oof``: member weights chosen out of fold on the training videos, never on validation.

Each candidate weight vector (a simplex grid, :func:`exprnet.tasks.combine.simplex`) combines the
members' calibrated out-of-fold training probabilities; the combination is post-processed as
``--smooth`` says, and scored the way that post-processing is chosen: a decoder's ``auto`` by its
cross-validated F1 over training source videos (the chain fitted on the other groups' labels), any
other kind by the F1 of its output on the training tracks. The best vector is kept (ties: the one
nearest equal weights). A member that measures worse out of fold gets a small weight or none; a
much stronger one (a decoded baseline beside a network) can get all of it.

A member without out-of-fold probabilities (a network trained with ``smooth.folds: 0``) has only
its own training predictions, which would favour whichever fits its training tracks best: when two
or more members kept out-of-fold probabilities, the weights are chosen among them and the others
get weight 0 (the record names them and says why); with one or none, the weights stay equal.
"""

from __future__ import annotations

from math import comb
from typing import Any

import numpy as np

from ..postprocess.choice import apply_all, fit_spec
from ..postprocess.decoding import DecodeSpec, Spec
from ..reports.metrics import macro_f1
from ..tasks.combine import simplex
from .combine import Combiner
from .post import MemberTraining

LEFT_OUT = ("weight 0: kept no out-of-fold training probabilities (RUN/oof/probs.npz; a network: train with "
            "smooth.folds > 0), so it cannot be weighed out of fold")
MAX_CANDIDATES = 21  # weight vectors tried at most (each fits a decoder: 18 parameter pairs x 3 groups)


def grid(m: int) -> np.ndarray:
    """The simplex grid of the finest step 1/r with at most :data:`MAX_CANDIDATES` points."""
    r = 1
    while comb(r + 1 + m - 1, m - 1) <= MAX_CANDIDATES:
        r += 1
    return simplex(m, r)


def oof_score(spec: Spec, tr: Any) -> float:
    """How ``spec`` fitted on these training tracks scores there (see the module's docstring)."""
    proc, info = fit_spec(spec, tr.probs, tr.labels, tr.names, tr.prior)
    if isinstance(spec, DecodeSpec) and spec.auto:
        return float(info["cv_f1"])
    return macro_f1(np.concatenate(tr.labels), np.concatenate([d.labels for d in apply_all(proc, tr.probs)]))


def fit_oof_weights(training: MemberTraining, spec: Spec) -> tuple[np.ndarray, dict[str, Any]]:
    """(m,) weights and what to record about the choice."""
    m = len(training.per_member)
    equal = np.full(m, 1.0 / m)
    if m == 1:
        return equal, {"chosen_on": "one member"}
    kept = training.oof_members()
    have = [i for i in range(m) if kept[i]]
    if len(have) < 2:
        return equal, {"chosen_on": f"equal weights: {training.source}, so no out-of-fold choice"}
    names = training.members or [f"member {i + 1}" for i in range(m)]
    sub = grid(len(have))
    cands = np.zeros((len(sub), m))
    cands[:, have] = sub
    within = np.zeros(m)
    within[have] = 1.0 / len(have)
    scores = [oof_score(spec, training.combined(Combiner("weighted", w))) for w in cands]
    best = max(scores)
    tied = [i for i, v in enumerate(scores) if v >= best - 1e-12]
    pick = min(tied, key=lambda i: float(np.abs(cands[i] - within).sum()))
    info: dict[str, Any] = {"chosen_on": "training tracks, out of fold", "oof_f1": best,
                            "oof_f1_by_weights": {",".join(f"{x:g}" for x in w): v
                                                  for w, v in zip(cands, scores, strict=True)}}
    if len(have) < m:
        info["chosen_on"] = f"training tracks, out of fold, among the {len(have)} members that kept them"
        info["left_out"] = {names[i]: LEFT_OUT for i in range(m) if not kept[i]}
    return cands[pick], info
