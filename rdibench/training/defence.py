"""The training objective (docs/protocol.md §2): L = Σ_i w_i (c · CE_i(x) + (1 - c) · CE_i(x_adv)), c = ½ by default.

x_adv comes from rdibench.attacks (never a private PGD copy), run with the model in train mode as the authors
do (docs/protocol.md §9.5) unless the recipe's ``attack_mode`` says eval: ``main`` attacks the last exit,
``average`` the mean exit loss, ``max_average`` runs one single-exit attack per exit and keeps per sample the
candidate with the largest average loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rdibench.attacks import ALGORITHMS, OBJECTIVES, Attack, make_objective, max_average
from rdibench.core.seeding import derive_seed, make_generator
from rdibench.core.types import ExitLogits
from rdibench.models.multiexit import MultiExitNet
from rdibench.training.recipe import DefenceRecipe


class Defence:
    """Adversarial examples and the loss of one recipe's defence; every random start is seeded from
    (recipe seed, iteration, exit), so a batch's attack does not depend on what ran before it."""

    def __init__(self, recipe: DefenceRecipe, exit_weights: list[float], seed: int) -> None:
        self.recipe = recipe
        self.weights = exit_weights
        self.seed = seed
        self.attack: Attack | None = (
            ALGORITHMS.get(recipe.attack.algorithm)(**recipe.attack.params()) if recipe.attack else None
        )

    @property
    def train_mode(self) -> bool:
        return self.recipe.attack_mode == "train"

    def _seed(self, iteration: int, exit_index: int) -> int:
        return derive_seed(self.seed, "attack", iteration, exit_index)

    def adversarial(self, model: MultiExitNet, x: torch.Tensor, y: torch.Tensor, iteration: int) -> torch.Tensor | None:
        """x_adv for this batch (None without a defence attack)."""
        if self.attack is None:
            return None
        name = "single" if self.recipe.objective in (None, "main") else self.recipe.objective  # main: the last exit
        if OBJECTIVES.get(name).from_single_attacks:
            seeds = [self._seed(iteration, k) for k in range(model.num_exits)]
            return max_average(self.attack, model, x, y, seeds, train_mode=self.train_mode)
        objective = make_objective(name, num_exits=model.num_exits)
        generator = make_generator(self._seed(iteration, -1), x.device)
        return self.attack(model, x, y, objective, generator=generator, train_mode=self.train_mode)

    def loss(self, clean: ExitLogits | None, adv: ExitLogits | None, y: torch.Tensor) -> torch.Tensor:
        """Weighted sum over exits of batch-mean cross-entropies (clean only without an attack; adversarial only
        when the clean term weighs 0, and then ``clean`` is not computed)."""
        c = self.recipe.clean_weight if adv is not None else 1.0
        total = torch.zeros((), device=y.device)
        for i, w in enumerate(self.weights):
            term = torch.zeros((), device=y.device)
            if clean is not None and c > 0:
                term = term + c * F.cross_entropy(clean[i], y)
            if adv is not None:
                term = term + (1 - c) * F.cross_entropy(adv[i], y)
            total = total + w * term
        return total
