"""The iteration loop: one seeded batch, one defence step, curves, periodic and on-interrupt resume checkpoints.

Exact resume: everything a later iteration depends on is either saved (weights, optimiser buffers, the batch
generator, curve accumulators) or a pure function of (seed, iteration) (LR, attack starts, dropout masks), so
an interrupted and resumed run reproduces the uninterrupted one bit for bit on the same device.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rdibench.core.device import Acceleration
from rdibench.core.errors import CheckpointError
from rdibench.core.files import atomic_path
from rdibench.core.seeding import derive_seed
from rdibench.core.types import ExitLogits
from rdibench.models.multiexit import MultiExitNet
from rdibench.training.defence import Defence
from rdibench.training.recipe import TrainRecipe
from rdibench.training.sampling import BatchSampler
from rdibench.training.watch import HeldOutWatch

logger = logging.getLogger(__name__)

STATE_FORMAT = 1


@contextlib.contextmanager
def seeded_global_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNG inside a fork that restores it afterwards.

    Why: dropout and ``nn.init`` have no generator argument; forking keeps the caller's RNG untouched and a
    per-iteration seed makes dropout masks a function of (seed, iteration), so resume needs no RNG state.
    """
    cuda = device.type == "cuda"
    with torch.random.fork_rng(devices=[device] if cuda else []):
        torch.default_generator.manual_seed(seed)
        if cuda:
            torch.cuda.manual_seed(seed)
        yield


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[dict[str, int | None]]:
    """SIGINT/SIGTERM only set a flag, checked between iterations, so the checkpoint written on interrupt is a
    consistent state (never a half-applied optimiser step). A second Ctrl-C interrupts at once."""
    flag: dict[str, int | None] = {"signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: object) -> None:
        if flag["signal"] is not None:
            raise KeyboardInterrupt
        flag["signal"] = signum
        logger.warning("interrupted: finishing this iteration and saving a checkpoint (Ctrl-C again aborts now)")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class Trainer:
    """Trains ``model`` per ``recipe`` from iteration ``state['iteration']`` to the end of the schedule."""

    def __init__(
        self,
        model: MultiExitNet,
        recipe: TrainRecipe,
        sampler: BatchSampler,
        defence: Defence,
        *,
        device: torch.device,
        state_path: Path,
        recipe_hash: str,
        watch: HeldOutWatch | None = None,
        acceleration: Acceleration | None = None,
    ) -> None:
        self.model, self.recipe, self.sampler, self.defence, self.watch = model, recipe, sampler, defence, watch
        self.device, self.state_path, self.recipe_hash = device, state_path, recipe_hash
        self.acceleration = acceleration or Acceleration()
        self.acceleration.model(model)
        opt = recipe.optimizer
        self.optimizer = torch.optim.SGD(
            model.parameters(), lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay, nesterov=opt.nesterov
        )
        self.iteration = 0
        self.curves: list[dict[str, Any]] = []
        self.selected_iteration: int | None = None
        self.window = self._empty_window()
        self.wall_time_s = 0.0
        self.resumes = 0
        self.earlier: list[dict[str, Any]] = []
        """The stretches before this process's (each resume starts one): see :meth:`stretches`."""
        self._began = (0, 0.0)  # iteration and wall time at which this process's stretch began

    def _empty_window(self) -> dict[str, Any]:
        n = self.model.num_exits
        return {"batches": 0, "loss": 0.0, "seen": 0, "clean": [0] * n, "adv": [0] * n}

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "recipe_hash": self.recipe_hash,
            "iteration": self.iteration,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.state(),
            "curves": self.curves,
            "watch": self.watch.state() if self.watch else None,
            "window": self.window,
            "wall_time_s": self.wall_time_s,
            "resumes": self.resumes,
            "stretches": self.stretches(),
        }

    def stretches(self) -> list[dict[str, Any]]:
        """Where and how the run trained, one entry per stretch (a resume starts the next): iterations
        [from, to), wall seconds, device, speed settings and torch version. Why: a run may start on a GPU and
        end on a CPU, and its card must say which iterations ran where."""
        start, wall = self._began
        now = {
            "iterations": [start, self.iteration],
            "wall_time_s": self.wall_time_s - wall,
            "device": str(self.device),
            "acceleration": self.acceleration.describe(),
            "torch": str(torch.__version__),  # a str subclass the weights-only loader refuses
        }
        return [*self.earlier, now]

    def load(self) -> None:
        """Continue from ``state_path`` (written by the same recipe; tensors and plain containers only)."""
        try:
            state = torch.load(self.state_path, map_location=self.device, weights_only=True)
        except Exception as e:
            raise CheckpointError(f"cannot read the resume checkpoint {self.state_path}: {e}") from e
        if state.get("format") != STATE_FORMAT or state.get("recipe_hash") != self.recipe_hash:
            raise CheckpointError(
                f"{self.state_path} was written by another recipe or rdibench version; delete it to start afresh"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state(state["sampler"].cpu())
        self.iteration, self.curves, self.window = state["iteration"], state["curves"], state["window"]
        if self.watch:
            self.watch.load_state(state["watch"])
        self.wall_time_s, self.resumes = state["wall_time_s"], state["resumes"] + 1
        self.earlier = state.get("stretches") or [_unrecorded(self.iteration, self.wall_time_s)]
        self._began = (self.iteration, self.wall_time_s)
        logger.info("resuming %s at iteration %d", self.recipe.name, self.iteration)

    def save(self) -> None:
        with atomic_path(self.state_path) as tmp:
            torch.save(self.state_dict(), tmp)

    def next_step(self) -> None:
        """The next iteration on the sampler's next batch."""
        x, y = self.sampler.next()
        self.step(self.acceleration.images(x.to(self.device)), y.to(self.device))

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """One iteration: attack (train mode), loss over all exits, SGD step, window statistics."""
        it, model = self.iteration, self.model
        for group in self.optimizer.param_groups:
            group["lr"] = self.recipe.schedule.lr_at(it, self.recipe.optimizer.lr)
        with seeded_global_rng(derive_seed(self.recipe.seed, "dropout", it), self.device):
            x_adv = self.defence.adversarial(model, x, y, it)
            model.train()
            clean, adv = self._forward(x, x_adv)
            loss = self.defence.loss(clean, adv, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        w = self.window
        w["batches"] += 1
        w["loss"] += float(loss.detach())
        w["seen"] += len(y)
        for i in range(model.num_exits):
            if clean is not None:
                w["clean"][i] += int((clean[i].argmax(1) == y).sum())
            if adv is not None:
                w["adv"][i] += int((adv[i].argmax(1) == y).sum())
        self.iteration += 1

    def _forward(self, x: torch.Tensor, x_adv: torch.Tensor | None) -> tuple[ExitLogits | None, ExitLogits | None]:
        """Exit logits of the clean and the adversarial batch (no clean forward when the clean term weighs 0, so
        batch norm sees only what the loss sees, as in the attack's forward). ``joint`` runs one forward on both:
        with two forwards each batch is normalised by its own batch-norm statistics, and a model can learn
        robustness that holds only under adversarial-batch statistics, which evaluation (running statistics)
        never uses."""
        if x_adv is None:
            return self.model(x), None
        if self.recipe.defence.clean_weight == 0:  # the loss sees adversarial images only (Wong et al.'s fast AT)
            return None, self.model(x_adv)
        if self.recipe.defence.forward == "separate":
            return self.model(x), self.model(x_adv)
        both = self.model(torch.cat([x, x_adv]))
        return [z[: len(x)] for z in both], [z[len(x) :] for z in both]

    def _point(self) -> dict[str, Any]:
        """Curve point of the window: mean loss, clean and adversarial accuracy per exit on the training batches."""
        w, seen = self.window, max(self.window["seen"], 1)
        return {
            "iteration": self.iteration,
            "lr": self.recipe.schedule.lr_at(self.iteration - 1, self.recipe.optimizer.lr),
            "loss": w["loss"] / max(w["batches"], 1),
            "clean_acc": [c / seen for c in w["clean"]] if self.recipe.defence.clean_weight > 0 else None,
            "adv_acc": [a / seen for a in w["adv"]] if self.defence.attack else None,
        }

    def run(self, *, progress: bool) -> None:
        """Train to the end of the schedule; on SIGINT/SIGTERM save and raise KeyboardInterrupt."""
        total, r = self.recipe.schedule.iterations, self.recipe
        start = time.monotonic()
        began, first = start, self.iteration
        bar = _progress_bar() if progress else contextlib.nullcontext()
        with deferred_interrupts() as flag, bar as live:
            task = live.add_task(r.name, total=total, completed=self.iteration, stats="") if live else None
            while self.iteration < total:
                self.next_step()
                if live is not None:
                    live.update(task, completed=self.iteration, stats=_stats(self._point()))
                if self.iteration % r.eval_every == 0 or self.iteration == total:
                    point = self._point()
                    self.curves.append(point)
                    self.window = self._empty_window()
                    eta = _eta((time.monotonic() - began) / (self.iteration - first) * (total - self.iteration))
                    logger.info("%s iteration %d/%d: %s, %s left", r.name, self.iteration, total, _stats(point), eta)
                if self.watch and self.watch.due(self.iteration, total):
                    point = self.watch.measure(self.model, self.iteration, self.device)
                    logger.info(
                        "%s iteration %d: held-out clean %.2f%% (last exit), PGD %.2f%%",
                        r.name,
                        self.iteration,
                        100 * point["clean_acc"][-1],
                        100 * point["score"],
                    )
                stop = flag["signal"] is not None
                if self.iteration % r.checkpoint_every == 0 or stop:
                    self.wall_time_s += time.monotonic() - start
                    start = time.monotonic()
                    self.save()
                if stop:
                    logger.warning("saved %s at iteration %d; continue with --resume", self.state_path, self.iteration)
                    raise KeyboardInterrupt
        self.wall_time_s += time.monotonic() - start
        self._select()

    def _select(self) -> None:
        """With ``keep_best``, end on the weights of the held-out watch point it kept (:meth:`HeldOutWatch.prefers`)."""
        best = self.watch.best if self.watch else None
        if best is None or not self.recipe.watch or not self.recipe.watch.keep_best:
            return
        self.selected_iteration = best["iteration"]
        if best["iteration"] != self.iteration:
            self.model.load_state_dict(best["model"])
            logger.info("%s: keeping the weights of iteration %d (held-out watch)", self.recipe.name, best["iteration"])


def _unrecorded(iterations: int, wall_time_s: float) -> dict[str, Any]:
    """The one stretch of a checkpoint written before stretches were recorded: how it ran is unknown."""
    return {
        "iterations": [0, iterations],
        "wall_time_s": wall_time_s,
        "device": None,
        "acceleration": None,
        "torch": None,
    }


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def _eta(seconds: float) -> str:
    """``1h05m`` / ``12m`` / ``40s``: the time a log reader can plan with, not a stopwatch."""
    minutes = round(seconds / 60)
    if minutes >= 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes}m" if minutes else f"{round(seconds)}s"


def _stats(point: dict[str, Any]) -> str:
    text = f"loss {point['loss']:.4f}"
    if point["clean_acc"] is not None:
        text += f" acc {point['clean_acc'][-1]:.2%}"
    if point["adv_acc"] is not None:
        text += f" adv {point['adv_acc'][-1]:.2%}"
    return text + f" lr {point['lr']:.3g}"
