"""CIFAR ResNet-38 (6n+2, n=6) and RDI-ResNet-38, exits after blocks 2 and 5 of every stage (docs/protocol.md §1.2)."""

from __future__ import annotations

import math

from torch import Tensor, nn

from rdibench.models.multiexit import MultiExitNet
from rdibench.models.registry import register_model

BLOCKS_PER_STAGE = 6
EXIT_AFTER = (1, 4)  # 0-based block indices int(6*1/4), int(6*3/4) as in the authors' code


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut (1x1 conv + BN when the shape changes), ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def _pool_fc(pool: int, channels: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.AvgPool2d(pool), nn.Flatten(), nn.Linear(channels, num_classes))


def _conv_branch(num_classes: int) -> nn.Sequential:
    """Exits 1-2: MaxPool, Conv5x5 16->64, BN, ReLU, MaxPool, Conv3x3 64->32, BN, AvgPool 8, FC 32->classes."""
    return nn.Sequential(
        nn.MaxPool2d(2),
        nn.Conv2d(16, 64, 5, padding=2, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        *_pool_fc(8, 32, num_classes),
    )


def _block_branch(num_classes: int) -> nn.Sequential:
    """Exits 3-4: MaxPool, one BasicBlock 32->32, AvgPool 8, FC 32->classes."""
    return nn.Sequential(nn.MaxPool2d(2), BasicBlock(32, 32), *_pool_fc(8, 32, num_classes))


def _blocks(width: float = 1.0) -> list[nn.Module]:
    """stem followed by the 18 blocks, in forward order; ``width`` scales every stage's channels."""
    c16, c32, c64 = (max(1, round(c * width)) for c in (16, 32, 64))
    stem = nn.Sequential(nn.Conv2d(3, c16, 3, 1, 1, bias=False), nn.BatchNorm2d(c16), nn.ReLU())
    layers: list[nn.Module] = [stem]
    cin = c16
    for stage, cout in enumerate((c16, c32, c64)):
        for i in range(BLOCKS_PER_STAGE):
            layers.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1))
            cin = cout
    return layers


def _init(model: MultiExitNet) -> MultiExitNet:
    """conv ~ N(0, sqrt(2 / (k*k*out))), BN weight 1 bias 0, as in the authors' code."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


@register_model
def resnet38(width: float = 1.0, num_classes: int = 10) -> MultiExitNet:
    """Static ResNet-38 (564,122 parameters at width 1); ``width`` narrows it (the compressed baseline)."""
    trunk = nn.Sequential(*_blocks(width))
    head = _pool_fc(8, max(1, round(64 * width)), num_classes)
    return _init(MultiExitNet([trunk], [head], arch="resnet38", input_shape=(3, 32, 32)))


@register_model
def rdi_resnet38(num_classes: int = 10) -> MultiExitNet:
    """RDI-ResNet-38: 6 side exits + main (692,310 parameters, the authors' checkpoint layout)."""
    blocks = _blocks()
    cuts = [1 + s * BLOCKS_PER_STAGE + b + 1 for s in range(3) for b in EXIT_AFTER]  # end index in `blocks`
    segments, start = [], 0
    for end in [*cuts, len(blocks)]:
        segments.append(nn.Sequential(*blocks[start:end]))
        start = end
    k = num_classes
    heads = [_conv_branch(k), _conv_branch(k), _block_branch(k), _block_branch(k)]
    heads += [_pool_fc(8, 64, k), _pool_fc(8, 64, k), _pool_fc(8, 64, k)]
    return _init(MultiExitNet(segments, heads, arch="rdi_resnet38", input_shape=(3, 32, 32)))
