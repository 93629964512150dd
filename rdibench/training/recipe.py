"""TrainRecipe: one YAML file names model, data, optimiser, schedule, defence, seed (and pruning) of a training run.

Why validated up front: a typo found after an hour of adversarial training wastes the hour, so every key is
checked (unknown keys, types, ranges, registry names, model keyword arguments) when the file is read, and
errors name the file, the key path, its line and the allowed values.
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from rdibench.attacks.algorithms.pgd import PGDParams
from rdibench.core.config import Loc, load_yaml, validate
from rdibench.core.errors import ConfigError
from rdibench.data import DataSpec
from rdibench.models.registry import MODELS, list_models

PRESETS_DIR = Path(__file__).parent / "recipes"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRecipe(_Strict):
    """A registered architecture and its constructor keywords (e.g. ``width`` for compressed baselines)."""

    arch: str = Field(description="registry name, e.g. rdi_smallcnn")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="constructor keywords, e.g. {width: 0.78}")

    @model_validator(mode="after")
    def _check(self) -> ModelRecipe:
        if self.arch not in list_models():
            raise ValueError(f"arch: {MODELS.unknown_message(self.arch)}")
        allowed = list(inspect.signature(MODELS.get(self.arch)).parameters)
        for key, value in self.kwargs.items():
            if key not in allowed:
                raise ValueError(f"kwargs.{key}: {self.arch} takes no {key!r}.{_hint(key, allowed)}")
            if key == "width" and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"kwargs.width must be a number > 0, got {value!r}")
        return self


class DataRecipe(_Strict):
    """Training data and the validation hold-out the thresholds are fitted on (disjoint by construction)."""

    dataset: Literal["mnist", "cifar10"]
    source: Literal["auto", "torchvision", "jpeg"] = "auto"
    train_n: int | None = Field(None, ge=1, description="first train_n images of the train split (default all)")
    val_n: int = Field(5000, ge=1, description="validation images used to fit the thresholds")
    val_size: int = Field(5000, ge=1, description="size of the validation hold-out of the training set")
    val_seed: int = 0
    augment: Literal["none", "crop_flip"] = Field(
        "none", description="crop_flip: random crop 32 pad 4 + horizontal flip per sample (CIFAR, paper.md §5)"
    )

    @model_validator(mode="after")
    def _check(self) -> DataRecipe:
        if self.val_n > self.val_size:
            raise ValueError(f"val_n ({self.val_n}) cannot exceed val_size ({self.val_size})")
        return self

    def _spec(self, split: Literal["train", "val"], n: int | None) -> DataSpec:
        return DataSpec(
            dataset=self.dataset,
            split=split,
            source=self.source,
            n=n,
            val_size=self.val_size,
            val_seed=self.val_seed,
        )

    def train_spec(self) -> DataSpec:
        return self._spec("train", self.train_n)

    def val_spec(self) -> DataSpec:
        return self._spec("val", self.val_n)


class OptimizerRecipe(_Strict):
    kind: Literal["sgd"] = "sgd"
    lr: float = Field(gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    nesterov: bool = False


class WarmupRecipe(_Strict):
    """The authors' optional warm-up: a fixed small LR for the first iterations (off in their README commands)."""

    iterations: int = Field(ge=1)
    lr: float = Field(gt=0)


class ScheduleRecipe(_Strict):
    """Iteration-based step schedule (paper.md §5): LR x gamma at each milestone."""

    iterations: int = Field(ge=1)
    milestones: list[int] = Field(default_factory=list)
    gamma: float = Field(0.1, gt=0, le=1)
    warmup: WarmupRecipe | None = None

    @model_validator(mode="after")
    def _check(self) -> ScheduleRecipe:
        ms = self.milestones
        if any(b <= a for a, b in itertools.pairwise(ms)):
            raise ValueError(f"milestones must increase strictly, got {ms}")
        if ms and not (ms[0] > 0 and ms[-1] < self.iterations):
            raise ValueError(f"milestones must lie in 1..{self.iterations - 1} (iterations), got {ms}")
        if self.warmup and self.warmup.iterations >= self.iterations:
            raise ValueError("warmup.iterations must be smaller than iterations")
        return self

    def lr_at(self, iteration: int, base_lr: float) -> float:
        """LR of 0-based ``iteration``: a pure function of it, so resuming needs no scheduler state."""
        if self.warmup and iteration < self.warmup.iterations:
            return self.warmup.lr
        return base_lr * self.gamma ** sum(m <= iteration for m in self.milestones)

    def shortened(self, iterations: int) -> ScheduleRecipe:
        """The same schedule over ``iterations``: milestones and warm-up scaled proportionally."""
        f = iterations / self.iterations
        ms = sorted({min(max(1, round(m * f)), iterations - 1) for m in self.milestones}) if iterations > 1 else []
        warm = self.warmup
        if warm:
            w = round(warm.iterations * f)
            warm = warm.model_copy(update={"iterations": w}) if 0 < w < iterations else None
        return ScheduleRecipe(iterations=iterations, milestones=ms, gamma=self.gamma, warmup=warm)


class AttackRecipe(PGDParams):
    """The defence's attack: PGD with the attack module's own parameter checks (``eps`` accepts ``8/255``)."""

    algorithm: Literal["pgd"] = "pgd"

    @field_validator("eps", "step_size", mode="before")
    @classmethod
    def _fraction(cls, v: Any) -> Any:
        if isinstance(v, str) and re.fullmatch(r"\s*[\d.]+\s*/\s*[\d.]+\s*", v):
            num, den = (float(p) for p in v.split("/"))
            return num / den
        return v

    def params(self) -> dict[str, Any]:
        return self.model_dump(exclude={"algorithm"})


class DefenceRecipe(_Strict):
    """``none``: clean CE; ``pgd_at``: ½ CE(x) + ½ CE(x_adv) on a static backbone; ``rdi``: the same on every
    exit with x_adv from the ``main`` (single last exit), ``average`` or ``max_average`` objective (paper.md §2)."""

    kind: Literal["none", "pgd_at", "rdi"]
    objective: Literal["main", "average", "max_average"] | None = None
    attack: AttackRecipe | None = None
    clean_weight: float = Field(0.5, ge=0, le=1, description="weight of the clean term (the adversarial one gets 1 -)")

    @model_validator(mode="after")
    def _check(self) -> DefenceRecipe:
        if self.kind == "none" and (self.attack or self.objective):
            raise ValueError("kind 'none' takes neither attack nor objective")
        if self.kind != "none" and self.attack is None:
            raise ValueError(f"attack is required for kind {self.kind!r}")
        if self.kind == "rdi" and self.objective is None:
            raise ValueError("objective is required for kind 'rdi' (main, average or max_average)")
        if self.kind == "pgd_at" and self.objective is not None:
            raise ValueError("kind 'pgd_at' attacks the single exit; drop objective (or use kind 'rdi')")
        return self

    def label(self) -> str:
        """Card text, e.g. ``rdi-max_average (PGD-5, eps 0.3, step 0.1)``."""
        if self.attack is None:
            return "none"
        a = self.attack
        name = "pgd-at" if self.kind == "pgd_at" else f"rdi-{self.objective}"
        return f"{name} (PGD-{a.steps}, eps {a.eps:.6g}, step {a.step_size:.6g})"


class ThresholdRecipe(_Strict):
    """Hand shift applied to the held-out fitted thresholds, ``t * scale + offset`` per side exit (paper.md §4)."""

    scale: list[float] | None = None
    offset: list[float] | None = None


class PruneRecipe(_Strict):
    """Structured (channels, torch-pruning) to a target MFlops, or unstructured (global L1) to a target sparsity
    or to a target sparse-aware MFlops; MFlops use the paper convention of the last exit."""

    kind: Literal["structured", "unstructured"]
    target_mflops: float | None = Field(None, gt=0)
    target_sparsity: float | None = Field(None, gt=0, lt=1)

    @model_validator(mode="after")
    def _check(self) -> PruneRecipe:
        if self.kind == "structured" and (self.target_mflops is None or self.target_sparsity is not None):
            raise ValueError("kind 'structured' needs target_mflops (and no target_sparsity)")
        if self.kind == "unstructured" and (self.target_mflops is None) == (self.target_sparsity is None):
            raise ValueError("kind 'unstructured' needs exactly one of target_sparsity and target_mflops")
        return self


class TrainRecipe(_Strict):
    """A complete, hashable description of one training run (see rdibench/training/recipes/ for examples)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="run name (store directory prefix)")
    description: str = ""
    model: ModelRecipe | None = Field(None, description="architecture to train from scratch (omit with base)")
    base: str | None = Field(None, description="start from: checkpoint directory, recipe file or preset name")
    data: DataRecipe
    optimizer: OptimizerRecipe
    schedule: ScheduleRecipe
    batch_size: int = Field(ge=1)
    defence: DefenceRecipe
    exit_weights: list[float] | None = Field(None, description="w_i of L_RDI (default 1 per exit, as the authors)")
    thresholds: ThresholdRecipe = ThresholdRecipe()
    prune: PruneRecipe | None = None
    eval_every: int = Field(100, ge=1, description="iterations per curve point (and log line)")
    checkpoint_every: int = Field(500, ge=1, description="iterations between resume checkpoints")
    seed: int = 0

    _source: Path | None = PrivateAttr(None)
    _lines: dict[Loc, int] = PrivateAttr(default_factory=dict)

    @field_validator("exit_weights")
    @classmethod
    def _weights(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (not v or any(w < 0 for w in v) or not any(w > 0 for w in v)):
            raise ValueError("exit_weights must be non-negative with at least one > 0")
        return v

    @model_validator(mode="after")
    def _check(self) -> TrainRecipe:
        if (self.model is None) == (self.base is None):
            raise ValueError("give exactly one of model (train from scratch) and base (start from a trained model)")
        if self.prune and self.base is None:
            raise ValueError("prune needs base: the trained model to prune")
        return self

    @property
    def source(self) -> Path | None:
        """The YAML file this recipe came from (relative ``base`` paths resolve against its folder)."""
        return self._source

    def error(self, key: str, message: str) -> ConfigError:
        """A ConfigError pointing at ``key`` (dotted path) of this recipe's file and line, for checks that need
        the model (exit counts, pruning targets) and so run after loading but before any training."""
        loc = tuple(int(p) if p.isdigit() else p for p in key.split("."))
        line = self._lines.get(loc)
        where = f"recipe {self._source or self.name}" + (f", line {line}" if line else "")
        return ConfigError(f"{where}: {key}: {message}")

    def with_iterations(self, iterations: int) -> TrainRecipe:
        """A shortened (or lengthened) run, schedule scaled; the change shows in the recipe hash and card."""
        if iterations < 1:
            raise ConfigError(f"--iterations must be >= 1, got {iterations}")
        return self.model_copy(update={"schedule": self.schedule.shortened(iterations)})


def presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_recipe(path_or_name: str | Path) -> TrainRecipe:
    """Read a recipe file, or a packaged preset by name (``paper-mnist`` ...); every problem raises ConfigError."""
    path = Path(path_or_name)
    if not path.is_file():
        if str(path_or_name) not in presets():
            raise ConfigError(
                f"recipe {str(path_or_name)!r} is neither a file nor a preset.{_hint(str(path_or_name), presets())} "
                f"Presets: {', '.join(presets())}."
            )
        path = PRESETS_DIR / f"{path_or_name}.yaml"
    data, lines = load_yaml(path)
    recipe = validate(TrainRecipe, data, source=f"recipe {path}", lines=lines)
    recipe._source = path.resolve()
    recipe._lines = lines
    return recipe


def _hint(word: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(word, allowed, n=2, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
