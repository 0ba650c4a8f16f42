"""IResNet (insightface ``arcface_torch`` layout), written here so public checkpoints load strictly.

Module and parameter names follow ``recognition/arcface_torch/backbones/iresnet.py`` exactly
(``conv1``, ``bn1``, ``prelu``, ``layer1..4`` of ``IBasicBlock``, ``bn2``, ``fc``, ``features``), so
an ``ms1mv3_arcface_r100`` ``backbone.pth`` loads with ``strict=True``. Depth, widths and the
embedding size are parameters; :func:`config_from_state_dict` reads them from a checkpoint.

This module imports torch; extractor modules import it lazily.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

IRESNET100_LAYERS = (3, 13, 30, 3)
IRESNET_WIDTHS = (64, 128, 256, 512)
INPUT_SIZE = 112  # the stem keeps resolution; four stride-2 stages: 112 -> 7


@dataclass(frozen=True)
class IResNetConfig:
    layers: tuple[int, ...] = IRESNET100_LAYERS
    widths: tuple[int, ...] = IRESNET_WIDTHS
    stem: int = 64
    num_features: int = 512
    fc_scale: int = 7 * 7

    @property
    def name(self) -> str:
        depth = {(2, 2, 2, 2): 18, (3, 4, 6, 3): 34, (3, 4, 14, 3): 50, (3, 13, 30, 3): 100,
                 (6, 26, 60, 6): 200}.get(tuple(self.layers))
        base = f"iresnet{depth}" if depth else "iresnet" + "-".join(map(str, self.layers))
        if tuple(self.widths) != IRESNET_WIDTHS or self.num_features != 512 or self.stem != 64:
            base += f"(w={'-'.join(map(str, self.widths))},d={self.num_features})"
        return base


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-05)
        self.conv1 = conv3x3(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-05)
        self.prelu = nn.PReLU(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-05)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.bn1(x)
        out = self.conv1(out)
        out = self.bn2(out)
        out = self.prelu(out)
        out = self.conv2(out)
        out = self.bn3(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        return out + identity


class IResNet(nn.Module):
    def __init__(self, cfg: IResNetConfig = IResNetConfig(), dropout: float = 0.0):
        super().__init__()
        self.cfg = cfg
        self.inplanes = cfg.stem
        self.conv1 = nn.Conv2d(3, cfg.stem, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cfg.stem, eps=1e-05)
        self.prelu = nn.PReLU(cfg.stem)
        for i, (n, w) in enumerate(zip(cfg.layers, cfg.widths, strict=True), start=1):
            setattr(self, f"layer{i}", self._make_layer(w, n, stride=2))
        self.bn2 = nn.BatchNorm2d(cfg.widths[-1], eps=1e-05)
        self.dropout = nn.Dropout(p=dropout, inplace=True)
        self.fc = nn.Linear(cfg.widths[-1] * cfg.fc_scale, cfg.num_features)
        self.features = nn.BatchNorm1d(cfg.num_features, eps=1e-05)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False
        # Random weights (benchmarks) must keep eval-mode activations finite over 49 residual
        # blocks: variance-preserving convolutions and a damped residual branch.
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="linear")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        for m in self.modules():
            if isinstance(m, IBasicBlock):
                nn.init.constant_(m.bn3.weight, 0.2)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes, eps=1e-05),
            )
        layers = [IBasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [IBasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.prelu(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.bn2(x)
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)
        return self.features(x)


_BLOCK = re.compile(r"^layer(\d+)\.(\d+)\.")


def config_from_state_dict(sd: Mapping[str, torch.Tensor]) -> IResNetConfig | None:
    """The IResNet that ``sd`` was saved from (depth per stage, widths, embedding size), or None."""
    if "conv1.weight" not in sd or "fc.weight" not in sd:
        return None
    counts: dict[int, int] = {}
    widths: dict[int, int] = {}
    for k, v in sd.items():
        m = _BLOCK.match(k)
        if m:
            stage, block = int(m.group(1)), int(m.group(2))
            counts[stage] = max(counts.get(stage, 0), block + 1)
            rest = k[m.end():]
            if rest in ("conv1.weight", "conv2.weight", "bn2.weight", "bn3.weight", "prelu.weight"):
                widths.setdefault(stage, int(v.shape[0]))
    if sorted(counts) != [1, 2, 3, 4] or sorted(widths) != [1, 2, 3, 4]:
        return None
    fc = sd["fc.weight"]
    last = widths[4]
    scale = int(fc.shape[1]) // last if last else 49
    return IResNetConfig(layers=tuple(counts[i] for i in (1, 2, 3, 4)),
                         widths=tuple(widths[i] for i in (1, 2, 3, 4)),
                         stem=int(sd["conv1.weight"].shape[0]), num_features=int(fc.shape[0]),
                         fc_scale=scale)


def fuse_for_inference(model: IResNet) -> IResNet:
    """Fold each block's ``conv1 -> bn2`` and ``conv2 -> bn3`` into the convolutions (eval only).

    ``bn1`` precedes a zero-padded convolution and cannot be folded exactly; it stays.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for blk in stage:
            if isinstance(blk.bn2, nn.Identity):
                continue
            blk.conv1 = fuse_conv_bn_eval(blk.conv1, blk.bn2)
            blk.bn2 = nn.Identity()
            blk.conv2 = fuse_conv_bn_eval(blk.conv2, blk.bn3)
            blk.bn3 = nn.Identity()
            if blk.downsample is not None and isinstance(blk.downsample[1], nn.BatchNorm2d):
                blk.downsample = nn.Sequential(fuse_conv_bn_eval(blk.downsample[0], blk.downsample[1]))
    return model


def build(cfg: IResNetConfig | None = None, layers: Sequence[int] | None = None) -> IResNet:
    if cfg is None:
        cfg = IResNetConfig(layers=tuple(layers or IRESNET100_LAYERS))
    return IResNet(cfg)
