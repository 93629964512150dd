"""The user-facing error hierarchy: one type per kind of failure, each mapped to an exit code by the CLI."""

from __future__ import annotations

import os
import re
import sys
import traceback


class RdibenchError(Exception):
    """Base of every error a user can cause and fix; the CLI prints the message and exits 2."""

    exit_code = 2


class ConfigError(RdibenchError):
    """A suite, recipe or flag value is malformed or out of range."""


class UnknownNameError(ConfigError):
    """A registry lookup failed; the message lists close matches."""


class CheckpointError(RdibenchError):
    """A checkpoint is missing, corrupt, of the wrong shape or of an unknown kind."""


class ModelError(RdibenchError):
    """A user's model breaks the model contract (forward must return per-exit logits) or cannot be built."""


class DataError(RdibenchError):
    """A dataset is missing or fails its checksum."""


class ResultsError(RdibenchError):
    """A result directory is missing, corrupt, or written by a newer schema."""


class DownloadError(RdibenchError):
    """A file could not be downloaded, arrived truncated, or failed its checksum."""


class CostError(RdibenchError):
    """A model's per-exit cost cannot be measured from its forward (the message says why), so none is given."""


class DeviceError(RdibenchError):
    """A requested device is not available on this machine."""


class SanityCheckError(RdibenchError):
    """An attack violated its own contract (left the eps-ball, raised accuracy...): its numbers are void."""

    exit_code = 1


def portable_traceback(limit: int | None = 5) -> str:
    """The exception being handled, as ``traceback.format_exc`` gives it but with each file named from the
    ``sys.path`` entry (or rdibench's own root) it was imported through: ``rdibench/runner/context.py``,
    ``torch/nn/modules/module.py``.

    Why: a failed cell's record is committed with its run, and must not name the folders of the machine that ran it.
    """
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # editable installs
    roots = sorted({os.path.abspath(p) for p in sys.path if p} | {package_root}, key=len, reverse=True)

    def relative(match: re.Match[str]) -> str:
        path = match.group(1)
        root = next((r for r in roots if path.startswith(r + os.sep)), None)
        return f'File "{path[len(root) + 1 :] if root else path}"'

    return re.sub(r'File "([^"]+)"', relative, traceback.format_exc(limit=limit))
