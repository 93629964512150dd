"""CIFAR MobileNetV2 (kuangliu layout, docs/protocol.md §1.3) and RDI-MobileNetV2 with 6 side exits.

The authors' unused 320->1280 ``conv2`` is not built: it never runs, so it only inflated their counts.
"""

from __future__ import annotations

from torch import Tensor, nn

from rdibench.models.multiexit import MultiExitNet
from rdibench.models.registry import register_model

CFG = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
EXIT_AFTER_LAYER = (2, 5, 8, 10, 13, 16)  # int(19*k/7), layer1 = stem, layer2..18 = blocks, layer19 = last conv


class Block(nn.Module):
    """Inverted residual: 1x1 expand, BN, ReLU, 3x3 depthwise, BN, ReLU, 1x1 project, BN; residual when stride 1."""

    def __init__(self, cin: int, cout: int, expansion: int, stride: int) -> None:
        super().__init__()
        planes = expansion * cin
        self.stride = stride
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, groups=planes, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.shortcut = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
            if stride == 1 and cin != cout
            else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


def _layers(width: float) -> list[nn.Module]:
    """layer1 (stem) .. layer19 (1x1 conv to 1280), in forward order."""
    c = lambda n: max(1, int(n * width))  # noqa: E731
    layers: list[nn.Module] = [
        nn.Sequential(nn.Conv2d(3, c(32), 3, 1, 1, bias=False), nn.BatchNorm2d(c(32)), nn.ReLU())
    ]
    cin = c(32)
    for expansion, cout, n, stride in CFG:
        for i in range(n):
            layers.append(Block(cin, c(cout), expansion, stride if i == 0 else 1))
            cin = c(cout)
    layers.append(nn.Sequential(nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU()))
    return layers


def _pool_fc(pool: int, channels: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.AvgPool2d(pool), nn.Flatten(), nn.Linear(channels, num_classes))


def _heads(width: float, k: int) -> list[nn.Module]:
    """The six side branches for ``k`` classes."""
    c = lambda n: max(1, int(n * width))  # noqa: E731
    first = nn.Sequential(
        Block(c(16), 32, 6, 2),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        Block(32, 64, 6, 2),
        nn.BatchNorm2d(64),
        *_pool_fc(8, 64, k),
    )
    second = nn.Sequential(Block(c(32), 32, 6, 2), *_pool_fc(8, 32, k))
    return [first, second, _pool_fc(8, c(64), k), _pool_fc(8, c(64), k), _pool_fc(8, c(96), k), _pool_fc(4, c(160), k)]


@register_model
def mobilenetv2(width: float = 1.0, num_classes: int = 10) -> MultiExitNet:
    """Static CIFAR MobileNetV2 (2,296,922 parameters at width 1)."""
    head = _pool_fc(4, 1280, num_classes)
    return MultiExitNet([nn.Sequential(*_layers(width))], [head], arch="mobilenetv2", input_shape=(3, 32, 32))


@register_model
def rdi_mobilenetv2(width: float = 1.0, num_classes: int = 10) -> MultiExitNet:
    """RDI-MobileNetV2: exits after layers 2, 5, 8, 10, 13, 16 plus the main head (2,343,798 parameters)."""
    layers = _layers(width)
    segments, start = [], 0
    for end in [*EXIT_AFTER_LAYER, len(layers)]:
        segments.append(nn.Sequential(*layers[start:end]))
        start = end
    heads = [*_heads(width, num_classes), _pool_fc(4, 1280, num_classes)]
    return MultiExitNet(segments, heads, arch="rdi_mobilenetv2", input_shape=(3, 32, 32))
