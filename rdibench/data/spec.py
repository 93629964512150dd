"""DataSpec: which images of which dataset a run evaluates or trains on."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DatasetName = Literal["mnist", "cifar10"]
Source = Literal["auto", "torchvision", "jpeg", "exact-npz"]


class DataSpec(BaseModel):
    """A fixed, reproducible selection of samples.

    ``split`` ``val`` is a seeded hold-out of the training set (``val_size`` images, ``val_seed``) and
    ``train`` is the rest of it, so thresholds are never fitted on training or test images.
    Without ``sample_seed`` the selection is ``offset .. offset+n`` in canonical order (as RobustBench);
    with it, a seeded random sample of ``n``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: DatasetName = Field(description="mnist or cifar10")
    split: Literal["train", "val", "test"] = Field("test", description="train, val (held out of train) or test")
    source: Source = Field(
        "auto",
        description="cifar10 only: torchvision (canonical pickles), jpeg (lossy ImageFolder copy), "
        "exact-npz (lossless subset); auto picks canonical, else the exact subset when it covers the selection",
    )
    n: int | None = Field(None, ge=1, description="number of samples (default: all)")
    offset: int = Field(0, ge=0, description="first sample of the selection (canonical order)")
    sample_seed: int | None = Field(None, description="draw a seeded random sample of n instead of a prefix")
    val_size: int = Field(5000, ge=1, description="size of the validation hold-out of the training set")
    val_seed: int = Field(0, description="seed of the validation hold-out")

    @model_validator(mode="after")
    def _check(self) -> DataSpec:
        if self.dataset == "mnist" and self.source not in ("auto", "torchvision"):
            raise ValueError(f"source {self.source!r} exists only for cifar10; mnist allows auto or torchvision")
        if self.sample_seed is not None and self.n is None:
            raise ValueError("sample_seed needs n (the sample size)")
        return self
