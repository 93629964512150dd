"""SmallCNN for MNIST (Chen et al. 2018; TRADES) and RDI-SmallCNN with 2 side exits (docs/protocol.md §1.1)."""

from __future__ import annotations

from torch import nn

from rdibench.models.multiexit import MultiExitNet
from rdibench.models.registry import register_model


def _w(c: int, width: float) -> int:
    return max(1, round(c * width))


def _head(in_features: int, num_classes: int, dropout: bool = True) -> nn.Sequential:
    """FC 1024->200, ReLU, Dropout, FC 200->200, ReLU, FC 200->classes (last layer zero-initialised)."""
    fc3 = nn.Linear(200, num_classes)
    nn.init.zeros_(fc3.weight)
    nn.init.zeros_(fc3.bias)
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(in_features, 200), nn.ReLU()]
    layers += [nn.Dropout(0.5)] if dropout else []
    layers += [nn.Linear(200, 200), nn.ReLU(), fc3]
    return nn.Sequential(*layers)


def _segments(width: float) -> list[nn.Module]:
    c32, c64 = _w(32, width), _w(64, width)
    return [
        nn.Sequential(nn.Conv2d(1, c32, 3), nn.ReLU()),  # conv1 -> 32x26x26
        nn.Sequential(  # conv2, pool, conv3 -> 64x10x10
            nn.Conv2d(c32, c32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(c32, c64, 3), nn.ReLU()
        ),
        nn.Sequential(nn.Conv2d(c64, c64, 3), nn.ReLU(), nn.MaxPool2d(2)),  # conv4, pool -> 64x4x4
    ]


def _init(model: MultiExitNet) -> MultiExitNet:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def _branch1(c32: int, num_classes: int) -> nn.Sequential:
    """Conv 32->16 3x3 stride 2, MaxPool 2, FC 576->200, Dropout, FC 200->200, FC 200->classes; no ReLU (as the
    authors)."""
    return nn.Sequential(
        nn.Conv2d(c32, 16, 3, stride=2),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(576, 200),
        nn.Dropout(0.5),
        nn.Linear(200, 200),
        nn.Linear(200, num_classes),
    )


def _branch2(c64: int, num_classes: int) -> nn.Sequential:
    """MaxPool 2, FC 1600->200, Dropout, FC 200->200, FC 200->classes; no ReLU."""
    return nn.Sequential(
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c64 * 25, 200),
        nn.Dropout(0.5),
        nn.Linear(200, 200),
        nn.Linear(200, num_classes),
    )


@register_model
def smallcnn(width: float = 1.0, num_classes: int = 10) -> MultiExitNet:
    """The static SmallCNN (312,202 parameters at width 1); ``width`` scales conv channels (compressed baseline)."""
    segs = _segments(width)
    trunk = nn.Sequential(*segs)
    head = _head(_w(64, width) * 16, num_classes)
    return _init(MultiExitNet([trunk], [head], arch="smallcnn", input_shape=(1, 28, 28)))


@register_model
def rdi_smallcnn(width: float = 1.0, num_classes: int = 10) -> MultiExitNet:
    """RDI-SmallCNN: exits after conv1 and conv3 plus the main head (836,846 parameters at width 1)."""
    segs = _segments(width)
    heads = [
        _branch1(_w(32, width), num_classes),
        _branch2(_w(64, width), num_classes),
        _head(_w(64, width) * 16, num_classes),
    ]
    return _init(MultiExitNet(segs, heads, arch="rdi_smallcnn", input_shape=(1, 28, 28)))
