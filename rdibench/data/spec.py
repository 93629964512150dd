"""DataSpec: which images of which dataset a run evaluates or trains on."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from rdibench.data.registry import DATASETS, dataset_info


def _registered(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(DATASETS.unknown_message(name))
    return name


DatasetName = Annotated[str, AfterValidator(_registered)]
"""A dataset name checked against the registry (suites, recipes and cards all use it)."""


class DataSpec(BaseModel):
    """A fixed, reproducible selection of samples.

    ``split`` ``val`` is a seeded hold-out of the training set (``val_size`` images, ``val_seed``) and
    ``train`` is the rest of it, so thresholds are never fitted on training or test images.
    Without ``sample_seed`` the selection is ``offset .. offset+n`` in canonical order (as RobustBench);
    with it, a seeded random sample of ``n``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: DatasetName = Field(description="a registered dataset: mnist, cifar10, or one a plugin registered")
    split: Literal["train", "val", "test"] = Field("test", description="train, val (held out of train) or test")
    source: str = Field(
        "auto",
        description="one of the dataset's sources; cifar10: torchvision (canonical pickles), jpeg (lossy "
        "ImageFolder copy), exact-npz (lossless subset); auto picks canonical, else the exact subset when it "
        "covers the selection",
    )
    n: int | None = Field(None, ge=1, description="number of samples (default: all)")
    offset: int = Field(0, ge=0, description="first sample of the selection (canonical order)")
    sample_seed: int | None = Field(None, description="draw a seeded random sample of n instead of a prefix")
    val_size: int = Field(5000, ge=1, description="size of the validation hold-out of the training set")
    val_seed: int = Field(0, description="seed of the validation hold-out")

    @model_validator(mode="after")
    def _check(self) -> DataSpec:
        allowed = dataset_info(self.dataset).sources
        if self.source not in allowed:
            raise ValueError(f"dataset {self.dataset} has no source {self.source!r} (allowed: {', '.join(allowed)})")
        if self.sample_seed is not None and self.n is None:
            raise ValueError("sample_seed needs n (the sample size)")
        return self
