"""Architectures. Importing this package registers every family."""

from __future__ import annotations

from rdibench.models.zoo import mobilenetv2, resnet, smallcnn

__all__ = ["mobilenetv2", "resnet", "smallcnn"]
