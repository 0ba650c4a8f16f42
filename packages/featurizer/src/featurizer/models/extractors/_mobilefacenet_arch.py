"""MobileFaceNet in the layout EmotiEffLib / HSEmotion's ``mbf_va_mtl`` was trained with (theirs is
adapted from cavaface), written here so its state dicts load key for key.

Module and class names match (``layers``, ``conv_sep``, ``features``; ``ConvBlock``,
``LinearBlock``, ``DepthWise``, ``Residual``, ``GDC``, ``Flatten``, ``MobileFaceNet``), so a
pickled ``mobilefacenet.MobileFaceNet`` unpickles onto these classes (``allow_pickle`` only).
Input: 112x112 RGB, ``(x / 255 - 0.5) / 0.5``. Output: the ``features`` (GDC) embedding,
``num_features`` wide (512); the emotion head (``fc``) is not part of the backbone.

This module imports torch; extractor modules import it lazily.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

INPUT_SIZE = 112


class Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), -1)


class ConvBlock(nn.Module):
    """conv -> batch norm -> PReLU."""

    def __init__(self, in_c: int, out_c: int, kernel: tuple[int, int] = (1, 1), stride: tuple[int, int] = (1, 1),
                 padding: tuple[int, int] = (0, 0), groups: int = 1):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_c, out_c, kernel, stride=stride, padding=padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_c), nn.PReLU(out_c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class LinearBlock(nn.Module):
    """conv -> batch norm (no activation)."""

    def __init__(self, in_c: int, out_c: int, kernel: tuple[int, int] = (1, 1), stride: tuple[int, int] = (1, 1),
                 padding: tuple[int, int] = (0, 0), groups: int = 1):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_c, out_c, kernel, stride, padding, groups=groups, bias=False), nn.BatchNorm2d(out_c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class DepthWise(nn.Module):
    """1x1 expand to ``groups`` channels, grouped kxk, 1x1 project; optionally residual."""

    def __init__(self, in_c: int, out_c: int, residual: bool = False, kernel: tuple[int, int] = (3, 3),
                 stride: tuple[int, int] = (2, 2), padding: tuple[int, int] = (1, 1), groups: int = 1):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(
            ConvBlock(in_c, groups),
            ConvBlock(groups, groups, kernel, stride, padding, groups=groups),
            LinearBlock(groups, out_c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layers(x)
        return x + y if self.residual else y


class Residual(nn.Module):
    def __init__(self, c: int, num_block: int, groups: int, kernel: tuple[int, int] = (3, 3),
                 stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (1, 1)):
        super().__init__()
        self.layers = nn.Sequential(*(DepthWise(c, c, True, kernel, stride, padding, groups)
                                      for _ in range(num_block)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class GDC(nn.Module):
    """Global depthwise 7x7 conv, then a linear embedding with batch norm."""

    def __init__(self, embedding_size: int):
        super().__init__()
        self.layers = nn.Sequential(
            LinearBlock(512, 512, (7, 7), groups=512), Flatten(),
            nn.Linear(512, embedding_size, bias=False), nn.BatchNorm1d(embedding_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class MobileFaceNet(nn.Module):
    def __init__(self, fp16: bool = False, num_features: int = 512, blocks: Sequence[int] = (1, 4, 6, 2),
                 scale: int = 2):
        super().__init__()
        self.scale, self.fp16 = scale, fp16
        c1, c2 = 64 * scale, 128 * scale
        k3, s1, s2, p1 = (3, 3), (1, 1), (2, 2), (1, 1)
        self.layers = nn.ModuleList([ConvBlock(3, c1, k3, s2, p1)])
        if blocks[0] == 1:
            self.layers.append(ConvBlock(c1, c1, k3, s1, p1, groups=64))
        else:
            self.layers.append(Residual(c1, blocks[0], groups=128, kernel=k3, stride=s1, padding=p1))
        self.layers.extend([
            DepthWise(c1, c1, False, k3, s2, p1, groups=128),
            Residual(c1, blocks[1], groups=128, kernel=k3, stride=s1, padding=p1),
            DepthWise(c1, c2, False, k3, s2, p1, groups=256),
            Residual(c2, blocks[2], groups=256, kernel=k3, stride=s1, padding=p1),
            DepthWise(c2, c2, False, k3, s2, p1, groups=512),
            Residual(c2, blocks[3], groups=256, kernel=k3, stride=s1, padding=p1),
        ])
        self.conv_sep = ConvBlock(c2, 512)
        self.features = GDC(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.features(self.conv_sep(x))
