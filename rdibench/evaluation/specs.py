"""The typed pieces of a suite: which model, which attack, which thresholds, which sanity probes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rdibench.attacks.objectives import OBJECTIVES, objective_settings
from rdibench.core.config import parse_fraction
from rdibench.core.errors import ConfigError
from rdibench.core.hashing import sha256_json
from rdibench.data import DatasetName, DataSpec, dataset_info, list_datasets
from rdibench.inference import ExitRuleName
from rdibench.models.catalogue import PUBLISHED
from rdibench.models.factory import check_target

CLEAN = "clean"


class ThresholdSpec(BaseModel):
    """Where the thresholds come from (docs/protocol.md §4 and §9.1), and for which exit rule.

    ``rule`` (entropy, max_softmax, or a registered one) defaults to the model's own: its card's, entropy for a
    card that names none. It leaves the dump when unset, so suites written before it keep their config hash.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["card", "held-out", "authors", "fixed"] = Field(
        "card",
        description="card: stored in the model card; held-out: fit on a validation split of the training set; "
        "authors: fit on the evaluated clean images (the authors' code); fixed: values given here",
    )
    shift: Literal["model", "none"] = Field("model", description="apply the model's own hand shifts after fitting")
    rule: ExitRuleName | None = Field(
        None, exclude_if=lambda v: v is None, description="exit rule (default: the model's, from its card)"
    )
    values: list[float] | None = Field(None, description="thresholds for protocol fixed (in the rule's units)")
    val_size: int = Field(5000, ge=10, description="held-out: validation split size")
    val_seed: int = Field(0, description="held-out: validation split seed")
    source: str = Field(
        "auto", description="held-out: source of the training images (of datasets that have it; others use auto)"
    )

    @field_validator("source")
    @classmethod
    def _known_source(cls, v: str) -> str:
        known = sorted({s for name in list_datasets() for s in dataset_info(name).sources})
        if v not in known:
            raise ValueError(f"unknown source {v!r}; the registered datasets have: {', '.join(known)}")
        return v

    @model_validator(mode="after")
    def _values(self) -> ThresholdSpec:
        if (self.protocol == "fixed") != (self.values is not None):
            raise ValueError("values go with protocol fixed, and protocol fixed needs values")
        return self


class ModelSpec(BaseModel):
    """A model to evaluate: an rdibench checkpoint directory, a published model by name, an external file to
    import, a training recipe, a user's model built by a factory, or (``rdibench.evaluate`` only) a model given
    in memory.

    A factory model is any ``torch.nn.Module`` meeting the model contract (:mod:`rdibench.models.adapter`):
    ``factory`` names the callable that builds it (``module:callable``, the module in the suite's folder or
    installed, or a registered model name), ``kwargs`` its arguments and ``weights`` a safetensors state dict.
    The new keys leave the dump when unset, so suites written before them keep their config hash.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="display name, unique in the suite")
    checkpoint: Path | None = Field(None, description="rdibench checkpoint directory (card.json + model.safetensors)")
    published: str | None = Field(
        None, description="a published model by name (rdibench fetch --list), fetched and verified on first use"
    )
    import_kind: Literal["triple-wins", "trades"] | None = Field(None, description="importer for an external file")
    import_path: Path | None = Field(None, description="the external file to import")
    recipe: str | None = Field(None, description="training recipe (path or preset) trained or reused from the store")
    factory: str | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="a user's model: 'module:callable' (a module in the suite's folder or installed) or a "
        "registered model name (built in or a plugin's), called with kwargs",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, exclude_if=lambda v: not v, description="factory: the callable's keyword arguments"
    )
    weights: Path | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="factory: a safetensors state dict loaded into the built model (a pickle is refused)",
    )
    given: str | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="set by rdibench.evaluate for a model passed in memory (its class); a suite file names a factory",
    )
    thresholds: ThresholdSpec | None = Field(None, description="this model's threshold protocol (default: the suite's)")
    data: DataSpec | None = Field(None, description="this model's evaluation selection (default: the suite's data)")

    @field_validator("published")
    @classmethod
    def _known_published(cls, v: str | None) -> str | None:
        if v is not None and v not in PUBLISHED:
            raise ValueError(PUBLISHED.unknown_message(v))
        return v

    @field_validator("factory")
    @classmethod
    def _factory_form(cls, v: str | None) -> str | None:
        return None if v is None else check_target(v)

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        sources = ("checkpoint", "published", "import_path", "recipe", "factory", "given")
        given = [k for k in sources if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"model {self.name!r} needs exactly one of {', '.join(sources[:-1])} (got {given})")
        if (self.import_kind is None) != (self.import_path is None):
            raise ValueError(f"model {self.name!r}: import_kind and import_path go together")
        if self.factory is None and (self.kwargs or self.weights is not None):
            raise ValueError(f"model {self.name!r}: kwargs and weights go with factory")
        return self


class AttackSpec(BaseModel):
    """One attack as a suite names it: an algorithm (built-in or library adapter), an objective and settings.

    ``algorithm``: ``pgd``, ``fgsm``, ``wrm``, ``torchattacks:<Class>``, ``art:<Class>``, ``autoattack``,
    or ``clean`` (no attack). ``exit`` goes with objective ``single`` (-1 = main exit; ``all`` expands into
    one attack per exit).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="display name, unique in the suite (exit suffixes are added for exit: all)")
    algorithm: str = Field(CLEAN, description="pgd, fgsm, wrm, torchattacks:<Class>, art:<Class>, autoattack, clean")
    objective: str = Field("average", description=f"what the attacker maximises: {', '.join(OBJECTIVES.names())}")
    exit: int | Literal["all"] | None = Field(None, description="exit index for objective single; 'all' expands")
    params: dict[str, Any] = Field(default_factory=dict, description="algorithm settings (eps, steps, step_size...)")
    objective_params: dict[str, Any] = Field(
        default_factory=dict, description="the objective's own settings: loss (ce, dlr); tau (soft_routing)"
    )
    probe: bool | None = Field(
        None,
        description="run the sanity probes and the security curve on this attack (unbounded eps, twice the steps, "
        "an eps sweep); unset: on for each model's first attack (sanity.probe_first_attack)",
    )
    dataset: DatasetName | None = Field(
        None, description="run only on models evaluated on this dataset (suites mixing datasets)"
    )

    @field_validator("objective")
    @classmethod
    def _known_objective(cls, v: str) -> str:
        if v not in OBJECTIVES:
            raise ValueError(OBJECTIVES.unknown_message(v))
        return v

    @field_validator("params", mode="before")
    @classmethod
    def _fractions(cls, v: Any) -> Any:
        return {k: parse_fraction(x) for k, x in v.items()} if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _objective_settings(self) -> AttackSpec:
        try:
            objective_settings(self.objective, self.objective_params)
        except ConfigError as e:
            raise ValueError(str(e)) from None
        return self

    def signature(self, exit: int | None = None) -> str:
        """What determines the adversarial images (not the display name): reuse and seeds key on it.

        Objective settings count only when given, so an attack without them keeps the signature (and the
        seeds and cached cells) it had before objectives took settings.
        """
        fields: dict[str, Any] = {
            "algorithm": self.algorithm,
            "params": self.params,
            "objective": self.objective,
            "exit": exit,
        }
        if self.objective_params:
            fields["objective_params"] = self.objective_params
        return sha256_json(fields)[:16]


class SanitySpec(BaseModel):
    """Settings of the sanity probes: run on each model's first attack unless turned off, and on attacks
    marked ``probe: true``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    probe_first_attack: bool = Field(
        True,
        description="probe each model's first attack (its first cell that is neither clean nor slowdown) "
        "unless that attack says probe: false; false turns the default off for the whole suite",
    )
    probe_n: int = Field(200, ge=10, description="samples the probes run on (the first of the selection)")
    unbounded_max_acc: float = Field(0.05, ge=0, le=1, description="accuracy an eps=1 attack must not exceed")
    curve: list[float] = Field(
        default_factory=lambda: [0.25, 0.5, 0.75, 1.5, 2.0],
        description="security curve: multiples of the probed attack's eps (its step sizes scaled alike), each "
        "attacked on the probe samples besides eps itself and 0",
    )

    @field_validator("curve")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(not m > 0 for m in v):
            raise ValueError(f"curve multiples must be > 0, got {v}")
        return v
