"""Floor 5: training recipes, adversarial training (PGD-AT, RDI), pruned and compressed baselines, resume."""

from __future__ import annotations

from rdibench.training.pruning import prune_structured, prune_unstructured
from rdibench.training.recipe import TrainRecipe, load_recipe, presets
from rdibench.training.run import describe_training, find_trained, plan, train

__all__ = [
    "TrainRecipe",
    "describe_training",
    "find_trained",
    "load_recipe",
    "plan",
    "presets",
    "prune_structured",
    "prune_unstructured",
    "train",
]
