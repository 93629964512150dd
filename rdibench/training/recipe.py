"""TrainRecipe: one YAML file names model, data, optimiser, schedule, defence, seed (and pruning) of a training run.

Why validated up front: a typo found after an hour of adversarial training wastes the hour, so every key is
checked (unknown keys, types, ranges, registry names, model keyword arguments) when the file is read, and
errors name the file, the key path, its line and the allowed values.
"""

from __future__ import annotations

import difflib
import inspect
import itertools
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from rdibench.attacks import ALGORITHMS
from rdibench.core.config import Loc, load_yaml, parse_fraction, validate
from rdibench.core.errors import ConfigError
from rdibench.data import DatasetName, DataSpec, dataset_info
from rdibench.inference import DEFAULT_RULE, ExitRuleName
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
            if key == "num_classes":
                raise ValueError("kwargs.num_classes: the heads are sized from data.dataset; drop it")
            if key not in allowed:
                raise ValueError(f"kwargs.{key}: {self.arch} takes no {key!r}.{_hint(key, allowed)}")
            if key == "width" and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"kwargs.width must be a number > 0, got {value!r}")
        return self


class DataRecipe(_Strict):
    """Training data and the validation hold-out the thresholds are fitted on (disjoint by construction)."""

    dataset: DatasetName = Field(description="a registered dataset (mnist, cifar10, or a plugin's)")
    source: str = Field("auto", description="one of the dataset's sources that holds training images")
    train_n: int | None = Field(None, ge=1, description="first train_n images of the train split (default all)")
    val_n: int = Field(5000, ge=1, description="validation images used to fit the thresholds")
    val_size: int = Field(5000, ge=1, description="size of the validation hold-out of the training set")
    val_seed: int = 0
    augment: Literal["none", "crop_flip"] = Field(
        "none", description="crop_flip: random crop 32 pad 4 + horizontal flip per sample (CIFAR, docs/protocol.md §5)"
    )

    @model_validator(mode="after")
    def _check(self) -> DataRecipe:
        if self.val_n > self.val_size:
            raise ValueError(f"val_n ({self.val_n}) cannot exceed val_size ({self.val_size})")
        info = dataset_info(self.dataset)
        usable = [s for s in info.sources if s not in info.test_only_sources]
        if self.source not in usable:
            raise ValueError(
                f"dataset {self.dataset} has no training source {self.source!r} (allowed: {', '.join(usable)})"
            )
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
    """Iteration-based LR schedule. ``step`` (docs/protocol.md §5): LR x gamma at each milestone. ``cyclic`` (fast
    adversarial training, Wong, Rice and Kolter, ICLR 2020): linear from 0 up to ``lr`` at ``peak`` x iterations,
    then linear down to 0 at the end.

    ``kind`` and ``peak`` leave the dump (and so the recipe hash) at their defaults: recipes written before
    they existed keep their hash and find their committed models."""

    iterations: int = Field(ge=1)
    kind: Literal["step", "cyclic"] = Field("step", exclude_if=lambda v: v == "step")
    peak: float = Field(0.4, gt=0, lt=1, exclude_if=lambda v: v == 0.4, description="cyclic: where LR peaks")
    milestones: list[int] = Field(default_factory=list)
    gamma: float = Field(0.1, gt=0, le=1)
    warmup: WarmupRecipe | None = None

    @model_validator(mode="after")
    def _check(self) -> ScheduleRecipe:
        ms = self.milestones
        if self.kind == "cyclic" and (ms or self.warmup):
            raise ValueError("kind 'cyclic' takes neither milestones nor warmup")
        if any(b <= a for a, b in itertools.pairwise(ms)):
            raise ValueError(f"milestones must increase strictly, got {ms}")
        if ms and not (ms[0] > 0 and ms[-1] < self.iterations):
            raise ValueError(f"milestones must lie in 1..{self.iterations - 1} (iterations), got {ms}")
        if self.warmup and self.warmup.iterations >= self.iterations:
            raise ValueError("warmup.iterations must be smaller than iterations")
        return self

    def lr_at(self, iteration: int, base_lr: float) -> float:
        """LR of 0-based ``iteration``: a pure function of it, so resuming needs no scheduler state."""
        if self.kind == "cyclic":
            up = self.peak * self.iterations
            t = iteration + 0.5  # the LR of the iteration's midpoint: never exactly 0, symmetric around the peak
            return base_lr * (t / up if t <= up else max(self.iterations - t, 0.0) / (self.iterations - up))
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
        return self.model_copy(update={"iterations": iterations, "milestones": ms, "warmup": warm})


class AttackRecipe(_Strict):
    """The defence's attack: PGD, or FGSM from a random start (fast adversarial training); its settings are
    checked by the attack module's own parameter class. ``eps`` and ``step_size`` accept fractions (``8/255``)."""

    algorithm: Literal["pgd", "fgsm"] = "pgd"
    eps: float
    steps: int | None = Field(None, exclude_if=lambda v: v is None, description="pgd only: number of steps")
    step_size: float | None = Field(None, exclude_if=lambda v: v is None, description="fgsm: default eps")
    noise: float | None = Field(None, exclude_if=lambda v: v is None, description="fgsm only: random-start radius")
    random_start: bool = True
    precision: Literal["fp32", "bf16"] = "fp32"

    @field_validator("eps", "step_size", "noise", mode="before")
    @classmethod
    def _fraction(cls, v: Any) -> Any:
        return parse_fraction(v)

    @model_validator(mode="after")
    def _check(self) -> AttackRecipe:
        if self.algorithm == "fgsm" and self.steps is not None:
            raise ValueError("fgsm takes one step: drop steps")
        if self.algorithm != "fgsm" and self.noise is not None:
            raise ValueError("noise is an fgsm setting: drop it or use algorithm: fgsm")
        ALGORITHMS.get(self.algorithm).Params(**self.params())
        return self

    def params(self) -> dict[str, Any]:
        return self.model_dump(exclude={"algorithm"})

    def label(self) -> str:
        """``PGD-5, eps 0.3, step 0.1`` or ``FGSM-RS, eps 0.0314, step 0.0392``."""
        rs = "-RS" if self.random_start else ""
        name = f"PGD-{self.steps}" if self.algorithm == "pgd" else f"FGSM{rs}"
        step = self.eps if self.step_size is None else self.step_size
        noise = "" if self.noise is None else f", noise {self.noise:.6g}"
        return f"{name}, eps {self.eps:.6g}{noise}, step {step:.6g}"


class WatchRecipe(_Strict):
    """Robust accuracy on held-out images during training: the guard against catastrophic overfitting of fast
    adversarial training (PGD accuracy collapses while FGSM accuracy rises), and early stopping (Rice et al.,
    ICML 2020) with ``keep_best``. The images are the first ``n`` of the validation hold-out, never test data."""

    every: int = Field(ge=1, description="iterations between watch points (e.g. one epoch)")
    n: int = Field(500, ge=1, description="held-out images attacked")
    attack: AttackRecipe
    keep_best: bool = Field(True, description="end with the weights of the best watch point")
    tolerance: float = Field(
        0.0,
        ge=0,
        lt=1,
        exclude_if=lambda v: v == 0,  # out of the dump at its default: recipes written before it keep their hash
        description="keep_best: among points whose score is within this of the best, the cleanest wins (a robust "
        "accuracy, e.g. 0.02 ~ one binomial SE on 500 images); 0 keeps the most robust point",
    )


class DefenceRecipe(_Strict):
    """``none``: clean CE; ``pgd_at``: ½ CE(x) + ½ CE(x_adv) on a static backbone; ``rdi``: the same on every
    exit with x_adv from the ``main`` (single last exit), ``average`` or ``max_average`` objective
    (docs/protocol.md §2)."""

    kind: Literal["none", "pgd_at", "rdi"]
    objective: Literal["main", "average", "max_average"] | None = None
    attack: AttackRecipe | None = None
    clean_weight: float = Field(0.5, ge=0, le=1, description="weight of the clean term (the adversarial one gets 1 -)")
    attack_mode: Literal["train", "eval"] = Field(
        "train",
        exclude_if=lambda v: v == "train",
        description="the model's mode while the attack runs: train (batch-norm batch statistics, the authors' "
        "code) or eval (running statistics, as TRADES; the attack then sees the function evaluation sees)",
    )
    forward: Literal["separate", "joint"] = Field(
        "separate",
        exclude_if=lambda v: v == "separate",
        description="separate: clean and adversarial images in two forwards, as the authors' code; joint: one "
        "forward on both, so batch norm normalises them with the same statistics",
    )

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
        fast = a.algorithm == "fgsm"
        name = ("fast-at" if fast else "pgd-at") if self.kind == "pgd_at" else f"rdi-{self.objective}"
        return f"{name} ({a.label()})"


class ThresholdRecipe(_Strict):
    """The exit rule the held-out thresholds are fitted for, and the hand shift applied to them, ``t * scale +
    offset`` per side exit (docs/protocol.md §4). ``rule`` leaves the dump at its default, so older recipes keep
    their hash."""

    rule: ExitRuleName = Field(
        DEFAULT_RULE, exclude_if=lambda v: v == DEFAULT_RULE, description="entropy, max_softmax, ..."
    )
    scale: list[float] | None = None
    offset: list[float] | None = None


class PruneRecipe(_Strict):
    """Structured (channels, torch-pruning) to a target MFlops, or unstructured (global L1) to a target sparsity
    or to a target sparse-aware MFlops; MFlops use the paper convention of the last exit."""

    kind: Literal["structured", "unstructured"]
    target_mflops: float | None = Field(None, gt=0, description="or the recipe's match_mflops")
    target_sparsity: float | None = Field(None, gt=0, lt=1)

    @model_validator(mode="after")
    def _check(self) -> PruneRecipe:
        if self.kind == "structured" and self.target_sparsity is not None:
            raise ValueError("kind 'structured' takes target_mflops, not target_sparsity")
        if self.target_mflops is not None and self.target_sparsity is not None:
            raise ValueError("give one of target_sparsity and target_mflops")
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
    match_mflops: str | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="size the model to another's measured average cost (a recipe file, preset or checkpoint "
        "directory, trained first if need be): the pruning target, or the width of a model built here",
    )
    watch: WatchRecipe | None = Field(None, exclude_if=lambda v: v is None)
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
        if self.prune and self.prune.target_mflops is None and self.prune.target_sparsity is None:
            if self.match_mflops is None:
                raise ValueError("prune needs a target: prune.target_mflops, prune.target_sparsity or match_mflops")
        elif self.match_mflops is not None and self.prune:
            raise ValueError("match_mflops sets the pruning target: drop prune.target_mflops/target_sparsity")
        if self.match_mflops is not None and self.prune is None:
            if self.model is None:
                raise ValueError("match_mflops sizes a pruned model (prune) or one built here (model), not a fine-tune")
            if "width" in self.model.kwargs:
                raise ValueError("match_mflops chooses model.kwargs.width: drop it")
            if "width" not in inspect.signature(MODELS.get(self.model.arch)).parameters:
                raise ValueError(f"match_mflops sizes a model by its width; {self.model.arch} takes none")
        if self.watch and self.watch.n > self.data.val_n:
            raise ValueError(f"watch.n ({self.watch.n}) cannot exceed data.val_n ({self.data.val_n})")
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
