"""The catalogue of published models rdibench fetches by name (as RobustBench's model zoo does).

Each entry pins its file to a public URL at one commit and to the sha256 of that file, names the importer
that converts it and says whom to cite, so ``rdibench fetch NAME`` gets the same bytes on any machine.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rdibench.core.registry import Registry


class PublishedModel(BaseModel):
    """One published file: where it lives, what it must hash to, how to import it, and its provenance.

    Fetched checkpoints keep the whole entry in their card (``ModelCard.upstream``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the name users type: rdibench fetch NAME, published: NAME in a suite")
    url: str = Field(description="where the file is downloaded from; pinned to a commit")
    commit: str = Field(pattern=r"^[0-9a-f]{7,40}$", description="the repository commit the URL is pinned to")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the published file")
    size: int = Field(ge=1, description="bytes of the published file")
    importer: str = Field(description="rdibench import kind that converts the file")
    dataset: Literal["mnist", "cifar10"]
    num_exits: int = Field(
        ge=1,
        description="exits of the imported model (checked on import); a run whose --only leaves the model out "
        "expands its cells from it without fetching the file",
    )
    description: str
    citation: str
    licence: str

    @model_validator(mode="after")
    def _pinned(self) -> PublishedModel:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or f"/{self.commit}/" not in parsed.path:
            raise ValueError(f"published model {self.name!r}: {self.url} is not an http(s) URL pinned to {self.commit}")
        return self

    @property
    def filename(self) -> str:
        """The upstream file name (what a models root is first searched for)."""
        return PurePosixPath(urlparse(self.url).path).name


PUBLISHED: Registry[PublishedModel] = Registry("published model")


def register_published(entry: PublishedModel) -> PublishedModel:
    """Add an entry to the catalogue under its name (names are lowercase words joined by '-' or '.')."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", entry.name):
        raise ValueError(f"published model name {entry.name!r}: use lowercase letters, digits, '-' and '.'")
    return PUBLISHED.register(entry.name)(entry)


register_published(
    PublishedModel(
        name="triple-wins-rdi-resnet38",
        url="https://raw.githubusercontent.com/VITA-Group/triple-wins/74cf6224992761f0018b49f1ea8d15f97858730a/"
        "cifar/checkpoint_60000.pth.tar",
        commit="74cf6224992761f0018b49f1ea8d15f97858730a",
        sha256="f1c76b0f65ce23f5ecea647e3d8fa9688dc9bb3507cdc3b86942c94fe9e823b8",
        size=2_842_143,
        importer="triple-wins",
        dataset="cifar10",
        num_exits=7,
        description="The paper authors' RDI-ResNet-38 (7 exits), CIFAR-10, max-average defence (PGD-10, eps 8/255, "
        "step 2/255), iteration 60,000 of 64,000",
        citation="Ting-Kuei Hu, Tianlong Chen, Haotao Wang, Zhangyang Wang. Triple Wins: Boosting Accuracy, "
        "Robustness and Efficiency Together by Enabling Input-Adaptive Inference. ICLR 2020.",
        licence="The repository VITA-Group/triple-wins carries no licence file; the weights stay the authors'. "
        "rdibench downloads them from the authors' repository and does not redistribute them.",
    )
)

register_published(
    PublishedModel(
        name="trades-smallcnn-mnist",
        url="https://raw.githubusercontent.com/yaodongyu/TRADES/f94f41489ffe9e4486558bf01ff34e1fb8d55490/"
        "checkpoints/model_mnist_smallcnn.pt",
        commit="f94f41489ffe9e4486558bf01ff34e1fb8d55490",
        sha256="5b99888064f692047d5592b38df2dde126aa1b991a26c6aad683ce709634bea0",
        size=1_251_636,
        importer="trades",
        dataset="mnist",
        num_exits=1,
        description="The TRADES SmallCNN (4 conv + 3 fully connected layers, one exit), MNIST, trained with TRADES "
        "by its authors",
        citation="Hongyang Zhang, Yaodong Yu, Jiantao Jiao, Eric P. Xing, Laurent El Ghaoui, Michael I. Jordan. "
        "Theoretically Principled Trade-off between Robustness and Accuracy. ICML 2019.",
        licence="The repository yaodongyu/TRADES is under the MIT licence (Copyright (c) 2019 Hongyang Zhang et al.).",
    )
)
