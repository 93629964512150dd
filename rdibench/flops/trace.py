"""Which layers each exit's logits depend on, measured from one forward of the model itself.

Why not module names: a user's model names its parts as it likes (``blocks``, ``classifiers``, a shared trunk
with branches), and a name says nothing about what an exit's logits were computed from. The forward does:
forward hooks record every layer call (its costs and the autograd node of its output), then walking each
exit's autograd graph back from its logits finds the calls it depends on.

A model whose cost this cannot measure raises :class:`CostError` saying why, rather than giving a number that
leaves compute out: logits without autograd history, an exit that depends on no countable layer, a counted layer
run without autograd history, convolutions or matrix products run outside any counted layer (functional calls),
or layers that differ between two inputs (data-dependent control flow).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from rdibench.core.errors import CostError, ModelError
from rdibench.flops.layers import counted_as, counting_rule, density, full_macs, multiplies, paper_macs
from rdibench.models import exit_list

MEASURE_SEEDS = (0, 1)  # two inputs: layers that differ between them reveal data-dependent control flow


@dataclass(frozen=True)
class LayerCall:
    """One call of one counted layer, in execution order. MACs are dense; ``density`` scales them."""

    name: str
    kind: str
    paper: float
    full: float
    density: float
    shapes: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Trace:
    """The counted layer calls of one forward and, per exit, the indices of the calls its logits depend on."""

    calls: tuple[LayerCall, ...]
    depends: tuple[frozenset[int], ...]

    @property
    def num_exits(self) -> int:
        return len(self.depends)


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def exit_outputs(model: nn.Module, out: Any) -> list[torch.Tensor]:
    """The per-exit logits of a forward, as the model contract reads them (:func:`~rdibench.models.exit_list`)."""
    try:
        return exit_list(out)
    except ModelError as e:
        raise CostError(f"{type(model).__name__}: {e}") from None


class _Recorder:
    """Forward hooks that record every outermost counted layer call, and the torch-counted FLOPs inside them."""

    def __init__(self, model: nn.Module, flops: FlopCounterMode) -> None:
        self.what = type(model).__name__
        self.flops = flops
        self.calls: list[LayerCall] = []
        self.nodes: list[list[Any]] = []  # autograd nodes of each call's outputs (kept alive for the walk)
        self.inside = 0  # torch-counted FLOPs that ran inside counted layers
        self._open: list[int] = []  # torch-counted FLOPs when each counted call in progress began
        self._names = {m: n or type(model).__name__ for n, m in model.named_modules(remove_duplicate=False)}
        self._rules = {m: rule for m in model.modules() if (rule := counting_rule(m)) is not None}
        self._handles = [
            h
            for m in self._rules
            for h in (m.register_forward_pre_hook(self._pre), m.register_forward_hook(self._post))
        ]

    def _pre(self, module: nn.Module, inputs: tuple[Any, ...]) -> None:
        self._open.append(self.flops.get_total_flops())

    def _post(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        before = self._open.pop()
        if self._open:  # a counted layer inside a counted layer (e.g. attention's projection): counted by the outer
            return
        ran = self.flops.get_total_flops() - before
        self.inside += ran
        name = self._names.get(module, type(module).__name__)
        expected = multiplies(module, inputs, output)
        if expected is not None and ran > 2 * expected:
            base = counted_as(module) or type(module)
            raise CostError(
                f"{self.what}: layer {name} ({type(module).__name__}) computes {ran / 2e6:.4g} M multiply-accumulates, "
                f"more than the {expected / 1e6:.4g} M of a {base.__name__}, which is what rdibench counts it as"
            )
        outs = _tensors(output)
        self.calls.append(
            LayerCall(
                name=name,
                kind=type(module).__name__,
                paper=paper_macs(module, inputs, output),
                full=full_macs(module, self._rules[module], inputs, output),
                density=density(module),
                shapes=tuple(tuple(t.shape) for t in outs),
            )
        )
        self.nodes.append([t.grad_fn for t in outs if t.grad_fn is not None])

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def _reach(root: Any) -> set[int]:
    """Ids of every autograd node ``root`` depends on (itself included)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend(fn for fn, _ in node.next_functions)
    return seen


def _trace_once(model: nn.Module, x: torch.Tensor) -> Trace:
    flops = FlopCounterMode(display=False)
    recorder = _Recorder(model, flops)
    try:
        with flops, torch.enable_grad():
            out = model(x.clone())  # a non-leaf input: in-place first layers are allowed
            logits = exit_outputs(model, out)
            return _analyse(model, recorder, logits, flops.get_total_flops())
    finally:
        recorder.remove()


def _analyse(model: nn.Module, rec: _Recorder, logits: list[torch.Tensor], total_flops: int) -> Trace:
    """The checks that keep a number from being silently wrong, then each exit's dependency set."""
    what = type(model).__name__
    outside = total_flops - rec.inside
    if outside > 0:
        raise CostError(
            f"{what}: {outside / 2e6:.4g} M multiply-accumulates of convolutions or matrix products ran outside "
            "any layer rdibench counts (functional calls such as F.conv2d, F.linear or x @ w, or a custom layer); "
            "do them in nn modules (Conv2d, Linear ...) so their cost can be attributed to exits"
        )
    for call, nodes in zip(rec.calls, rec.nodes, strict=True):
        if not nodes and (call.paper or call.full):
            raise CostError(
                f"{what}: layer {call.name} ({call.kind}) ran without autograd history (torch.no_grad or detach "
                "inside forward), so rdibench cannot tell which exits it feeds"
            )
    node_of: dict[int, list[int]] = {}
    for i, nodes in enumerate(rec.nodes):
        for n in nodes:
            node_of.setdefault(id(n), []).append(i)
    depends = []
    for k, z in enumerate(logits):
        if z.grad_fn is None:
            raise CostError(
                f"{what}: the logits of exit {k} do not depend on the input through differentiable operations "
                "(a constant, or computed under torch.no_grad), so their cost cannot be measured"
            )
        calls = frozenset(i for n in _reach(z.grad_fn) for i in node_of.get(n, ()))
        if not any(rec.calls[i].full for i in calls):
            raise CostError(
                f"{what}: the logits of exit {k} depend on no layer rdibench counts (convolution, linear, "
                "normalisation, activation, pooling ...), so their cost cannot be measured"
            )
        depends.append(calls)
    return Trace(tuple(rec.calls), tuple(depends))


def trace(model: nn.Module, input_shape: tuple[int, ...]) -> Trace:
    """Counted layer calls and per-exit dependencies of ``model`` on one image of ``input_shape``.

    Two seeded inputs are traced; if their layer calls or dependencies differ, the cost depends on the input
    (data-dependent control flow) and :class:`CostError` says so.
    """
    work = copy.deepcopy(model).eval()  # measuring never changes the caller's model (mode, hooks, buffers)
    param = next(work.parameters(), None)
    like = {"dtype": param.dtype, "device": param.device} if param is not None else {}
    first, second = (
        _trace_once(work, torch.rand(1, *input_shape, generator=torch.Generator().manual_seed(s)).to(**like))
        for s in MEASURE_SEEDS
    )
    if first != second:
        raise CostError(
            f"{type(model).__name__}: the layers that run (or what each exit depends on) differ between two forwards "
            f"on different inputs (data-dependent control flow: {_difference(first, second)}); rdibench measures a "
            "per-exit cost from one forward, so it cannot give this model one"
        )
    return first


def _difference(a: Trace, b: Trace) -> str:
    if a.num_exits != b.num_exits:
        return f"{a.num_exits} exits on one input, {b.num_exits} on another"
    for i, (ca, cb) in enumerate(zip(a.calls, b.calls, strict=False)):
        if ca != cb:
            return f"layer call {i} is {ca.name} {list(ca.shapes)} on one input, {cb.name} {list(cb.shapes)} on another"
    if len(a.calls) != len(b.calls):
        return f"{len(a.calls)} layer calls on one input, {len(b.calls)} on another"
    k = next(k for k in range(a.num_exits) if a.depends[k] != b.depends[k])
    return f"exit {k} depends on different layers"
