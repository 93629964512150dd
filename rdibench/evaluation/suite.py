"""SuiteConfig: a declarative benchmark (models x attacks on one data selection), validated before any tensor moves."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from rdibench.attacks import OBJECTIVES, Objective, is_single_step, make_objective
from rdibench.attacks.adapters import ViewAttack, view_of
from rdibench.core.config import Loc, load_yaml, validate
from rdibench.core.errors import ConfigError, RdibenchError
from rdibench.core.hashing import sha256_file, sha256_json
from rdibench.data import DataSpec
from rdibench.evaluation.specs import CLEAN, AttackSpec, ModelSpec, SanitySpec, ThresholdSpec
from rdibench.models.catalogue import PUBLISHED
from rdibench.models.factory import import_factory


class SuiteConfig(BaseModel):
    """A suite file (``suites/*.yaml``). Model paths inside it are relative to the suite file's directory
    (as docker-compose does), so a suite runs the same from any working directory; ``output`` is
    relative to the working directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="suite name: results go to <output>/<name>/<timestamp>-<hash>/")
    description: str = ""
    seed: int = Field(0, description="root seed; each cell's seed derives from it and the cell's identity")
    output: Path = Field(Path("results"), description="root directory of result runs")
    data: DataSpec = Field(description="the evaluation selection")
    batch_size: int = Field(256, ge=1, description="images per attack batch")
    stores: list[Path] = Field(
        default_factory=list, description="read-only checkpoint stores searched for recipe models (e.g. committed)"
    )
    thresholds: ThresholdSpec = Field(default_factory=ThresholdSpec)
    sanity: SanitySpec = Field(default_factory=SanitySpec)
    models: list[ModelSpec] = Field(min_length=1)
    attacks: list[AttackSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> SuiteConfig:
        for kind, names in (("model", [m.name for m in self.models]), ("attack", [a.name for a in self.attacks])):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{kind} names must be unique; repeated: {', '.join(dup)}")
        return self

    _written: dict[str, Any] | None = PrivateAttr(None)
    _origin: str = PrivateAttr("")
    _folder: Path | None = PrivateAttr(None)

    def origin(self) -> str:
        """Where the suite came from (its file, or the command or call that built it), for error messages."""
        return self._origin or "suite"

    def folder(self) -> Path | None:
        """The folder relative paths and factory modules are found in (the suite file's)."""
        return self._folder

    def as_written(self) -> dict[str, Any]:
        """The suite as its file says it (paths relative to that file), before paths are resolved: what the
        manifest records and the config hash covers, so neither depends on where the checkout lives."""
        return self._written if self._written is not None else self.model_dump(mode="json")

    def config_hash(self, models: Collection[str] | None = None, description: str | None = None) -> str:
        """Hash of the suite as written; a published model counts by its name and its file's sha256, a factory
        model's weights by their file's sha256 (where a file was found is no part of the suite).

        ``models`` and ``description``: the hash the suite would have with only these models listed and this
        description, so a resume can tell a suite that only gained models (every earlier cell still holds, the
        prose may say so) from one that changed."""
        kept = [m for m in self.models if models is None or m.name in models]
        config = self.as_written()
        if models is not None:
            config = {**config, "models": [m for m in config["models"] if m["name"] in models]}
        if description is not None:
            config = {**config, "description": description}
        published = {m.published: PUBLISHED.get(m.published).sha256 for m in kept if m.published}
        weights = {m.name: sha256_file(m.weights) for m in kept if m.weights is not None}
        extra = {"published_sha256": published} if published else {}
        return sha256_json({**config, **extra, **({"weights_sha256": weights} if weights else {})})

    def data_for(self, model: ModelSpec) -> DataSpec:
        """The selection a model is evaluated on: its own ``data``, else the suite's."""
        return model.data or self.data


@dataclass(frozen=True)
class Cell:
    """One model x one concrete attack (``exit: all`` already expanded)."""

    model: ModelSpec
    attack: AttackSpec
    exit: int | None

    @property
    def attack_name(self) -> str:
        return self.attack.name if self.attack.exit != "all" else f"{self.attack.name}-e{self.exit}"

    @property
    def key(self) -> str:
        return f"{self.model.name}|{self.attack_name}"


def _objective(cell: Cell) -> type[Objective]:
    return OBJECTIVES.get(cell.attack.objective)


def probed(cells: list[Cell], default: bool) -> list[Cell]:
    """One model's cells (in run order) with ``probe`` decided: an attack's own ``probe`` wins; unset, it is
    on for the first cell that attacks accuracy when ``default`` is, else off (an attack on compute, such
    as slowdown, has no accuracy for eps=1 to break), and on an iterative attack when the model has one
    (one step need not break everything at eps=1: :attr:`rdibench.attacks.Attack.single_step`)."""
    eligible = [i for i, c in enumerate(cells) if c.attack.algorithm != CLEAN and _objective(c).needs_labels]
    iterative = [i for i in eligible if not is_single_step(cells[i].attack.algorithm)]
    first = (iterative or eligible)[0] if default and eligible else None
    out = []
    for i, c in enumerate(cells):
        probe = i == first if c.attack.probe is None else c.attack.probe
        out.append(Cell(c.model, c.attack.model_copy(update={"probe": probe}), c.exit))
    return out


def expand(suite: SuiteConfig, num_exits: dict[str, int]) -> list[Cell]:
    """Cells in run order: per model, clean first and objectives built from single-exit attacks (max-average)
    last, so they reuse those attacks' images. A one-exit model gets no cell of an objective that needs side
    exits: a static model's cost cannot change, so the cell is left out of its row (shown empty).

    Every cell's ``probe`` is decided here (:func:`probed`), so a cell records whether it ran the probes.
    """
    cells: list[Cell] = []
    for model in suite.models:
        per_model: list[Cell] = []
        dataset = suite.data_for(model).dataset
        for attack in suite.attacks:
            if attack.dataset not in (None, dataset):
                continue
            n = num_exits[model.name]
            if n == 1 and OBJECTIVES.get(attack.objective).needs_side_exits:
                continue
            if attack.exit == "all":
                per_model += [Cell(model, attack, k) for k in range(n)]
            elif attack.exit is not None and not -n <= attack.exit < n:
                raise ConfigError(
                    f"attack {attack.name!r}: exit {attack.exit} does not exist on model {model.name!r} "
                    f"({n} exits: 0..{n - 1}, or -1 for the last)"
                )
            else:  # -1 and n-1 are the same attack: one signature, one seed, shared with max-average's candidates
                per_model.append(Cell(model, attack, None if attack.exit is None else attack.exit % n))
        per_model.sort(key=lambda c: 0 if c.attack.algorithm == CLEAN else 1 + _objective(c).from_single_attacks)
        cells += probed(per_model, suite.sanity.probe_first_attack)
    return cells


def load_suite(path: Path | str) -> tuple[SuiteConfig, dict[str, str]]:
    """Validate a suite file; returns the config (paths resolved) and its source facts (path, sha256)."""
    path = Path(path)
    data, lines = load_yaml(path)
    if isinstance(data, dict):  # top-level x-* keys only hold YAML anchors (as docker-compose's)
        data = {k: v for k, v in data.items() if not str(k).startswith("x-")}
    suite = build_suite(data, source=str(path), lines=lines, base=path.resolve().parent)
    return suite, {"path": str(path), "sha256": sha256_file(path)}


def build_suite(
    data: Any, *, source: str, base: Path, lines: dict[Loc, int] | None = None, given: Collection[str] = ()
) -> SuiteConfig:
    """Every check a suite gets, wherever it comes from (a file, the eval command's flags, ``rdibench.evaluate``):
    the schema, paths resolved against ``base`` and checked, factories imported, every attack resolved; any
    problem raises ConfigError naming ``source`` and the key. ``given``: names of the models passed in memory
    (``rdibench.evaluate``), the only ones that may use the ``given`` key."""
    suite = validate(SuiteConfig, data, source=source, lines=lines)
    resolved_models = [_resolve_paths(m, base, source) for m in suite.models]
    stores = [(base / p).resolve() for p in suite.stores]  # an absolute p stays itself
    written = suite.model_dump(mode="json")
    suite = suite.model_copy(update={"models": resolved_models, "stores": stores})
    suite._written, suite._origin, suite._folder = written, source, base
    _check_attacks(suite, source)
    _check_published(suite, source, lines or {})
    _check_user_models(suite, source, lines or {}, given)
    return suite


def _resolve_paths(model: ModelSpec, base: Path, source: str) -> ModelSpec:
    updates: dict[str, object] = {}
    if model.recipe is not None:
        from rdibench.training import load_recipe, plan

        recipe_path = base / model.recipe
        try:
            plan(load_recipe(recipe_path if recipe_path.is_file() else model.recipe))
        except ConfigError as e:
            raise ConfigError(f"{source}: models.{model.name}.recipe: {e}") from None
        if recipe_path.is_file():
            updates["recipe"] = str(recipe_path)
    for key in ("checkpoint", "import_path", "weights"):
        value = getattr(model, key)
        if value is not None:
            full = value if value.is_absolute() else base / value
            if not full.exists():
                raise ConfigError(f"{source}: models.{model.name}.{key}: {full} does not exist")
            updates[key] = full
    return model.model_copy(update=updates)


def _check_published(suite: SuiteConfig, source: str, lines: dict[Loc, int]) -> None:
    """A published model must be of the dataset it is evaluated on (known from the catalogue, no download)."""
    for i, model in enumerate(suite.models):
        if model.published is None:
            continue
        entry, dataset = PUBLISHED.get(model.published), suite.data_for(model).dataset
        if entry.dataset != dataset:
            line = lines.get(("models", i, "published"))
            raise ConfigError(
                f"{source}{f':{line}' if line else ''}: models.{i}.published: {entry.name} is a {entry.dataset} "
                f"model; model {model.name!r} is evaluated on {dataset}"
            )


def _check_user_models(suite: SuiteConfig, source: str, lines: dict[Loc, int], given: Collection[str]) -> None:
    """A factory must import and be callable (it is built, and its weights loaded, when the run loads models);
    a model given in memory exists only in ``rdibench.evaluate``; neither has thresholds of its own."""
    for i, model in enumerate(suite.models):
        if model.factory is None and model.given is None:
            continue
        key = "factory" if model.factory is not None else "given"
        line = lines.get(("models", i, key))
        where = f"{source}{f':{line}' if line else ''}: models.{i}.{key} ({model.name})"
        if model.given is not None and model.name not in given:
            raise ConfigError(
                f"{where}: a model given in memory exists only in rdibench.evaluate; a suite names a factory"
            )
        if model.factory is not None:
            try:
                import_factory(model.factory, suite.folder())
            except RdibenchError as e:
                raise ConfigError(f"{where}: {e}") from None
        if (model.thresholds or suite.thresholds).protocol == "card":
            raise ConfigError(
                f"{where}: a user's model has no model card to take thresholds from; set thresholds.protocol "
                "(the suite's or this model's) to held-out, authors or fixed"
            )


def _check_attacks(suite: SuiteConfig, source: str) -> None:
    """Resolve every attack now (names, settings, the view a library attack needs), so a typo fails before
    the first cell runs."""
    from rdibench.attacks.factory import make_attack

    for i, attack in enumerate(suite.attacks):
        if attack.algorithm == CLEAN:
            continue
        try:
            if isinstance(make_attack(attack.algorithm, attack.params), ViewAttack):
                _check_view(attack)
        except ConfigError as e:
            raise ConfigError(f"{source}: attacks.{i} ({attack.name}): {e}") from None
        if attack.exit is not None and not OBJECTIVES.get(attack.objective).takes_exit():
            raise ConfigError(
                f"{source}: attacks.{i} ({attack.name}): objective {attack.objective} takes no exit "
                "(exit goes with objective single only)"
            )


def _check_view(attack: AttackSpec) -> None:
    """A library attack sees the model through its objective's view: that view must exist (max-average runs
    it on each exit). Checked on a stand-in two-exit model; only the kind of view matters."""
    name = "single" if OBJECTIVES.get(attack.objective).from_single_attacks else attack.objective
    objective = make_objective(
        name,
        num_exits=2,
        exit=0 if OBJECTIVES.get(name).takes_exit() else None,
        thresholds=[0.0],
        **attack.objective_params,
    )
    view_of(objective.bind(torch.Generator()))
