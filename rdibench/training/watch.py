"""Held-out robust accuracy during training, and the best weights seen (the fast-AT overfitting guard).

Fast adversarial training can overfit catastrophically: within an epoch PGD accuracy collapses to ~0 while
the training (FGSM) accuracy rises. The training curves show FGSM numbers only, so a watch point attacks
held-out images with PGD, and ``keep_best`` ends the run with the weights of the best point (early stopping,
Rice, Wong and Kolter, ICML 2020).
"""

from __future__ import annotations

from typing import Any

import torch

from rdibench.attacks import ALGORITHMS, Attack, Average
from rdibench.core.seeding import derive_seed, make_generator
from rdibench.models.multiexit import MultiExitNet
from rdibench.training.recipe import WatchRecipe

BATCH = 250


class HeldOutWatch:
    """PGD on the average exit objective (on a one-exit model: that exit's cross-entropy) against ``n`` held-out
    images; the score of a point is the adversarial accuracy averaged over exits."""

    def __init__(self, recipe: WatchRecipe, x: torch.Tensor, y: torch.Tensor, seed: int) -> None:
        self.recipe = recipe
        self.x, self.y = x[: recipe.n], y[: recipe.n]
        self.seed = seed
        self.attack: Attack = ALGORITHMS.get(recipe.attack.algorithm)(**recipe.attack.params())
        self.curve: list[dict[str, Any]] = []  # every point, in the card's training curves
        self.best: dict[str, Any] | None = None  # {"iteration", "score", "model": state dict}

    def due(self, iteration: int, total: int) -> bool:
        return iteration % self.recipe.every == 0 or iteration == total

    def measure(self, model: MultiExitNet, iteration: int, device: torch.device) -> dict[str, Any]:
        """One curve point (kept in ``curve``); remembers the weights if they beat every earlier point."""
        point = self._point(model, iteration, device)
        self.curve.append(point)
        if self.best is None or point["score"] > self.best["score"]:
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            self.best = {"iteration": iteration, "score": point["score"], "model": state}
        return point

    def _point(self, model: MultiExitNet, iteration: int, device: torch.device) -> dict[str, Any]:
        clean = [0] * model.num_exits
        adv = [0] * model.num_exits
        generator = make_generator(derive_seed(self.seed, "watch", iteration), device)
        was_training = model.training
        model.eval()
        for i in range(0, len(self.y), BATCH):
            x, y = self.x[i : i + BATCH].to(device), self.y[i : i + BATCH].to(device)
            x_adv = self.attack(model, x, y, Average(), generator=generator)
            with torch.no_grad():
                for counts, batch in ((clean, x), (adv, x_adv)):
                    for e, z in enumerate(model(batch)):
                        counts[e] += int((z.argmax(1) == y).sum())
        model.train(was_training)
        n = len(self.y)
        return {
            "iteration": iteration,
            "n": n,
            "clean_acc": [c / n for c in clean],
            "adv_acc": [a / n for a in adv],
            "score": sum(adv) / (n * model.num_exits),
        }

    def state(self) -> dict[str, Any]:
        return {"curve": self.curve, "best": self.best}

    def load_state(self, state: dict[str, Any]) -> None:
        self.curve, self.best = state["curve"], state["best"]
