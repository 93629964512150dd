"""A user's model from a factory: ``module:callable`` or a registered name, its keyword arguments, and weights.

Why a factory and not a pickled model: a suite names code the user already has (``my_nets:build``) and a
safetensors state dict, so nothing is unpickled and the model is rebuilt the same way on every machine.
The module is imported with the suite file's folder first on the import path (and left there, so worker
processes spawned for the run import it too); a name without ``:`` is a registered model, built in or
from an installed plugin (entry-point group ``rdibench.models``).
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from rdibench.core.errors import ModelError
from rdibench.core.hashing import sha256_file
from rdibench.models.adapter import AdaptedModel, adapt_model, probe_exits, state_sha256
from rdibench.models.card import ModelCard
from rdibench.models.checkpoint import Checkpoint, load_state
from rdibench.models.registry import create_model

TARGET = re.compile(r"[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?")
"""``package.module:callable`` (the callable may be dotted: ``Class.build``) or a registered model name."""
ARCH_PREFIX = "factory:"


def check_target(target: str) -> str:
    """``target`` if it is ``module:callable`` or a name; else ValueError saying the form (for the schema)."""
    if not TARGET.fullmatch(target):
        raise ValueError(
            f"factory {target!r} must be 'module:callable' (e.g. my_nets:build, a module in the suite's folder or "
            "installed) or a registered model name"
        )
    return target


def import_factory(target: str, folder: Path | None = None) -> tuple[Callable[..., Any], Path | None]:
    """The callable ``target`` names and the file it is defined in; ModelError says which step failed."""
    if ":" not in target:
        return partial(create_model, target), None  # registered: the zoo's or a plugin's (unknown names listed)
    module_name, _, attr = target.partition(":")
    expected = _file_in(folder, module_name)
    if folder is not None:  # first on the path, so the suite's own module wins over a same-named one elsewhere
        if str(folder) in sys.path:
            sys.path.remove(str(folder))
        sys.path.insert(0, str(folder))
    importlib.invalidate_caches()  # a module written after start-up must be found
    where = f"{folder} or the installed packages" if folder is not None else "the installed packages"
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # the user's module: whatever its top level raises is reported
        file = f" ({expected})" if expected else ""
        raise ModelError(f"cannot import module {module_name!r}{file} from {where}: {type(e).__name__}: {e}") from None
    file = Path(module.__file__) if getattr(module, "__file__", None) else None
    if expected is not None and file is not None and file.resolve() != expected.resolve():
        raise ModelError(
            f"module {module_name!r} is already imported from {file}, not {expected}; give one of them another name"
        )
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelError(f"module {module_name!r} ({file}) has no {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelError(f"{target} ({file}) is {type(obj).__name__!r}, not callable")
    return obj, file


def _file_in(folder: Path | None, module_name: str) -> Path | None:
    """The file ``module_name`` would be imported from inside ``folder``, if it is there."""
    if folder is None:
        return None
    stem = folder.joinpath(*module_name.split("."))
    return next((p for p in (stem.with_suffix(".py"), stem / "__init__.py") if p.is_file()), None)


def load_weights(module: nn.Module, path: Path) -> str:
    """Load a safetensors state dict into ``module`` (every key, every shape); returns the file's sha256.

    A pickle is refused, whatever its name: unpickling a stranger's file can run code.
    """
    if path.suffix != ".safetensors":
        raise ModelError(
            f"{path}: weights must be a safetensors state dict (.safetensors); a pickle (.pt, .pth, .bin) is refused "
            "because loading one can run code. Convert it once: "
            "safetensors.torch.save_file(model.state_dict(), 'weights.safetensors')"
        )
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise ModelError(f"{path} is not a readable safetensors file: {e}") from None
    load_state(module, state, str(path))
    return sha256_file(path)


def build_factory_model(
    target: str,
    kwargs: Mapping[str, Any],
    *,
    weights: Path | None,
    folder: Path | None,
    name: str,
    dataset: str,
    input_shape: Sequence[int],
    num_classes: int | None = None,
) -> Checkpoint:
    """Import and call the factory, load ``weights`` into what it returns, adapt it to the model contract and
    describe it in a card (arch ``factory:<target>``; thresholds come from the suite's protocol)."""
    fn, file = import_factory(target, folder)
    if ":" not in target and num_classes is not None:  # a registered model's heads sized for the dataset
        kwargs = {"num_classes": num_classes, **kwargs}
    try:
        module = fn(**kwargs)
    except Exception as e:  # the user's factory
        raise ModelError(f"{target}(**{dict(kwargs)}) ({file}) raised {type(e).__name__}: {e}") from None
    if not isinstance(module, nn.Module):
        raise ModelError(
            f"{target}(**{dict(kwargs)}) ({file}) returned a {type(module).__name__}, not a torch.nn.Module"
        )
    try:
        return module_checkpoint(
            module,
            name=name,
            arch=ARCH_PREFIX + target,
            kwargs=kwargs,
            dataset=dataset,
            input_shape=input_shape,
            num_classes=num_classes,
            weights=weights,
            code=file or _defined_in(module),
        )
    except ModelError as e:  # the model's own failure: name the code it came from
        raise ModelError(f"{target} ({file}): {e}") from None


def module_checkpoint(
    module: nn.Module,
    *,
    name: str,
    dataset: str,
    input_shape: Sequence[int],
    arch: str | None = None,
    kwargs: Mapping[str, Any] | None = None,
    num_classes: int | None = None,
    weights: Path | None = None,
    code: Path | None = None,
) -> Checkpoint:
    """Any module meeting the model contract, as a checkpoint: weights loaded (from ``weights`` if given), the
    module adapted (one forward on a ``input_shape`` batch) and a card built from what that forward found.

    The card's ``weights_sha256`` is the weights file's, else a hash of the state dict; ``code_sha256`` the
    sha256 of ``code`` (default: the file defining the module's class), so a changed forward is a new model.
    """
    arch = arch or f"{ARCH_PREFIX}{type(module).__module__}:{type(module).__qualname__}"
    weights_sha256 = load_weights(module, weights) if weights is not None else state_sha256(module)
    model = adapt_model(module, input_shape, num_classes=num_classes, arch=arch)
    classes = (
        model.num_classes
        if isinstance(model, AdaptedModel)
        else probe_exits(model, input_shape, num_classes=num_classes)[1]
    )
    code = code or _defined_in(module)
    origin = f"weights {weights.name}" if weights is not None else "weights as given (no file)"
    card = ModelCard(
        name=name,
        arch=arch,
        arch_kwargs=dict(kwargs or {}),
        dataset=dataset,  # type: ignore[arg-type]
        num_classes=classes,
        num_exits=model.num_exits,
        weights_sha256=weights_sha256,
        code_sha256=sha256_file(code) if code is not None else None,
        source=f"a user's model: {arch.removeprefix(ARCH_PREFIX)} ({code.name if code else 'source file unknown'}), "
        f"{origin}",
    )
    return Checkpoint(model.eval(), card, weights)


def _defined_in(module: nn.Module) -> Path | None:
    """The source file of the module's class, when Python knows it (not for classes typed into a REPL)."""
    try:
        file = inspect.getsourcefile(type(module))
    except (TypeError, OSError):
        return None
    return Path(file) if file else None
