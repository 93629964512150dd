"""The user-facing error hierarchy: one type per kind of failure, each mapped to an exit code by the CLI."""

from __future__ import annotations


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
