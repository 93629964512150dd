"""ModelCard: everything needed to rebuild, route and cite a checkpoint, stored as JSON beside its weights."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rdibench.core.hashing import sha256_json
from rdibench.data import DatasetName, dataset_info, list_datasets
from rdibench.models.catalogue import PublishedModel

CARD_SCHEMA_VERSION = 1


class ThresholdFit(BaseModel):
    """How the thresholds were obtained, so a reader can tell the paper's protocol from a held-out one.

    ``final = base * scale + offset`` per side exit; ``base`` equalises clean exit shares on ``split``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["held-out", "authors", "manual"]
    split: str = Field(description="data the base thresholds were fitted on, e.g. 'mnist/val n=5000'")
    n: int = Field(ge=1)
    base: list[float]
    scale: list[float] | None = None
    offset: list[float] | None = None


class ThresholdShift(BaseModel):
    """Per-side-exit hand adjustment ``t * scale + offset`` that the model's authors apply after fitting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: list[float] | None = None
    offset: list[float] | None = None
    origin: str = ""


class ModelCard(BaseModel):
    """Architecture, data, thresholds and provenance of one checkpoint (``card.json``)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = CARD_SCHEMA_VERSION
    name: str = Field(description="short display name, e.g. 'rdi_smallcnn.maxavg'")
    arch: str = Field(
        description="registry name passed to create_model (built in or a plugin's), or factory:<module:callable> for "
        "a user's model built by a suite's factory"
    )
    arch_kwargs: dict[str, Any] = Field(default_factory=dict)
    dataset: DatasetName
    num_classes: int = Field(ge=2, description="classes of the heads (default: the dataset's)")
    num_exits: int = Field(ge=1)
    thresholds: list[float] | None = Field(None, description="thresholds of the side exits (num_exits - 1)")
    exit_rule: str = Field(
        "entropy", description="the exit rule the thresholds are for (a card without it predates the field: entropy)"
    )
    threshold_fit: ThresholdFit | None = None
    threshold_shift: ThresholdShift | None = Field(None, description="the authors' shifts (protocol 'authors')")
    weights_sha256: str = ""
    code_sha256: str | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="a user's model: sha256 of the file its code is in (a built-in's code is rdibench's own)",
    )
    source: str = Field(description="who made the weights and how: 'rdibench train ...' or an import's origin")
    upstream: PublishedModel | None = Field(
        None, description="the published file these weights were converted from (rdibench fetch): URL, commit, sha256"
    )
    defence: str | None = Field(None, description="training defence, e.g. 'pgd-at', 'rdi-max_average', 'trades'")
    training: dict[str, Any] | None = None
    pruning: dict[str, Any] | None = None
    reported: dict[str, Any] = Field(default_factory=dict, description="numbers published for this model")
    notes: str = ""

    @model_validator(mode="before")
    @classmethod
    def _classes_of_the_dataset(cls, data: Any) -> Any:
        """A card that does not say how many classes its heads have has the dataset's."""
        if isinstance(data, dict) and "num_classes" not in data and data.get("dataset") in list_datasets():
            return {**data, "num_classes": dataset_info(data["dataset"]).num_classes}
        return data

    @model_validator(mode="before")
    @classmethod
    def _upstream_exits(cls, data: Any) -> Any:
        """An import made before the catalogue recorded exit counts: its upstream's are the model's own (without
        this, every such import in a user's cache read as stale and was downloaded again)."""
        upstream = data.get("upstream") if isinstance(data, dict) else None
        if isinstance(upstream, dict) and "num_exits" not in upstream and "num_exits" in data:
            return {**data, "upstream": {**upstream, "num_exits": data["num_exits"]}}
        return data

    @model_validator(mode="after")
    def _check_thresholds(self) -> ModelCard:
        if self.thresholds is not None and len(self.thresholds) != self.num_exits - 1:
            raise ValueError(
                f"thresholds has {len(self.thresholds)} values; a {self.num_exits}-exit model needs "
                f"{self.num_exits - 1}"
            )
        return self

    def model_id(self) -> str:
        """What identifies the function this model computes, for caches of its results: the weights' sha256,
        and for a user's model also its factory, arguments and code (rdibench's own code is versioned apart)."""
        if self.code_sha256 is None:
            return self.weights_sha256
        return sha256_json([self.arch, self.arch_kwargs, self.weights_sha256, self.code_sha256])
