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
rows (``mask`` False) are left out. Both log-partitions and their gradients (the frames' marginals)
come from one forward-backward pass each (hmmlearn's, :mod:`exprnet.postprocess.hmm_inference`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..postprocess.chain import frame_shares, transition_matrix
from ..postprocess.hmm_inference import log_partition

BLOCKED = -1e4  # log-potential of a class a labelled frame rules out (finite: no NaN in the gradients)


class _LogPartition(torch.autograd.Function):
    """Summed log-partition of rows of log-emissions through a fixed chain, by hmmlearn's compiled
    forward-backward; its gradient is the marginals, computed in the same pass (no autograd tape
    through a recursion of one step per frame)."""

    @staticmethod
    def forward(ctx: Any, e: torch.Tensor, mask: torch.Tensor, init: np.ndarray, trans: np.ndarray) -> torch.Tensor:
        lengths = [k for k in mask.sum(1).tolist() if k]
        flat = e[mask].detach().double().cpu().numpy()  # rows' real frames end to end
        log_z, post = log_partition(flat, lengths, init, trans)
        grad = torch.zeros_like(e)
        grad[mask] = torch.from_numpy(post).to(e.device, e.dtype)
        ctx.save_for_backward(grad)
        return torch.tensor(log_z, dtype=e.dtype, device=e.device)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (grad,) = ctx.saved_tensors
        return g * grad, None, None, None


class ChainNLL:
    """The CRF loss of one training split: its chain from ``labels``, the emissions' ``prior``."""

    def __init__(self, labels: Sequence[np.ndarray], prior: np.ndarray, device: torch.device | str = "cpu"):
        n = len(prior)
        self.init, self.trans = frame_shares(labels, n), transition_matrix(labels, n)
        self.log_prior = torch.tensor(np.log(prior), dtype=torch.float32, device=device)  # its scale cancels

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``logits`` (B, L, C), ``target`` (B, L) with -1 = unlabelled, ``mask`` (B, L) real rows
        (each row's real rows first: segments are left-aligned in their slot)."""
        labelled = (target >= 0) & mask
        n = int(labelled.sum())
        if n == 0:
            return logits.sum() * 0.0
        e = F.log_softmax(logits.float(), -1) - self.log_prior
        allowed = F.one_hot(target.clamp(min=0), e.shape[-1]).bool() | ~labelled[..., None]
        free = _LogPartition.apply(e, mask, self.init, self.trans)
        kept = _LogPartition.apply(e.masked_fill(~allowed, BLOCKED), mask, self.init, self.trans)
        return (free - kept) / n
