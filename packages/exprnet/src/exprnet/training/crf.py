"""A segment-level loss: the negative log-likelihood of a linear-chain CRF over each training segment.

The CRF's transition potentials are the training labels' class chain (``log`` of the transition
matrix and of the frame shares that the ``viterbi`` decoder uses, :mod:`exprnet.postprocess.chain`),
fixed, not learnt; its emission at frame t for class c is ``log softmax(z_t)[c] - log prior(c)``,
the same evidence the decoder reads (:mod:`exprnet.postprocess.priors`, weight 1). So the network is
trained for what its probabilities are used for: a label *sequence* decoded through that chain,
rather than frames judged one by one. Per segment, with the labelled frames' classes given and the
unlabelled (-1) frames' summed over:

    nll = log Z(every class path) - log Z(the paths that agree with every labelled frame)

summed over the segments and divided by their labelled frames (the scale of a per-frame CE). Padded
rows (``mask`` False) are skipped: the recursion carries its state through them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..postprocess.chain import frame_shares, transition_matrix

BLOCKED = -1e4  # log-potential of a class a labelled frame rules out (finite: no NaN in the gradients)


class ChainNLL:
    """The CRF loss of one training split: its chain from ``labels``, the emissions' ``prior``."""

    def __init__(self, labels: Sequence[np.ndarray], prior: np.ndarray, device: torch.device | str = "cpu"):
        n = len(prior)
        t = torch.tensor
        self.log_init = t(np.log(frame_shares(labels, n)), dtype=torch.float32, device=device)
        self.log_trans = t(np.log(transition_matrix(labels, n)), dtype=torch.float32, device=device)
        self.log_prior = t(np.log(np.asarray(prior, np.float64) / np.sum(prior)), dtype=torch.float32, device=device)

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``logits`` (B, L, C), ``target`` (B, L) with -1 = unlabelled, ``mask`` (B, L) real rows."""
        labelled = (target >= 0) & mask
        n = int(labelled.sum())
        if n == 0:
            return logits.sum() * 0.0
        e = F.log_softmax(logits.float(), -1) - self.log_prior
        allowed = F.one_hot(target.clamp(min=0), e.shape[-1]).bool() | ~labelled[..., None]
        both = torch.cat([e, e.masked_fill(~allowed, BLOCKED)])  # (2B, L, C): free, then constrained
        log_z = self._log_partition(both, torch.cat([mask, mask]))
        b = logits.shape[0]
        return (log_z[:b] - log_z[b:]).sum() / n

    def _log_partition(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Forward algorithm per row: log of the sum over the class paths of its real rows (segments
        are left-aligned in their slot: a padded row never precedes a real one)."""
        alpha = self.log_init + e[:, 0]
        for s in range(1, e.shape[1]):
            step = torch.logsumexp(alpha[:, :, None] + self.log_trans, dim=1) + e[:, s]
            alpha = torch.where(mask[:, s, None], step, alpha)
        return torch.logsumexp(alpha, -1)
