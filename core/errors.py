"""Exceptions raised by the registry.

Every message is one sentence a person can act on: what was wrong and what to do.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base class of every error the registry raises on purpose."""


class ModelNotFoundError(RegistryError, LookupError):
    """No model matches the reference; the message says which names or versions exist."""


class IntegrityError(RegistryError):
    """A file's content does not match the SHA-256 recorded for it."""


class SigningKeyError(RegistryError):
    """This user's signing key file is empty, damaged or unreadable, or could not be created."""


class UntrustedModelError(RegistryError):
    """Loading the file would run or construct code nobody has chosen to trust."""

    def __init__(self, message: str, *, untrusted: list[str] | None = None):
        super().__init__(message)
        self.untrusted = list(untrusted or [])


class MetadataValidationError(RegistryError, ValueError):
    """Metadata is missing a field or has a value of the wrong type or range."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class UnsafeArchiveError(RegistryError):
    """An archive holds a member that could write outside its folder or exhaust the disk."""


class DataError(RegistryError, ValueError):
    """An input table cannot be used as it is (missing columns, not a CSV, empty...)."""


class StorageError(RegistryError, OSError):
    """The disk refused a write: it is full, read-only, or not ours to write; nothing half-written stays.

    Still an :class:`OSError` (with the original ``errno``), so code that handles file-system
    failures keeps handling it.
    """

    def __init__(self, message: str, *, errno: int | None = None, filename: str | None = None):
        super().__init__(message)
        self.errno = errno
        self.filename = filename
        self.strerror = message

    def __str__(self) -> str:
        return self.strerror


class LeakyFeatureWarning(UserWarning):
    """A model's feature columns include NASA's vetting outputs (``core.koi.LEAKY_COLUMNS``): its metrics flatter it."""


class TooFewSharedRows(DataError):
    """Versions being compared share too few held-out rows of a file for a paired comparison.

    ``shared_rows`` is how many labelled rows none of them was trained or validated on and
    ``per_class`` how many of those each class has; ``needed_rows`` and ``needed_per_class`` are
    the minimums. The message says to compare each version on its own held-out rows instead.
    """

    def __init__(self, message: str, *, shared_rows: int = 0, per_class: dict | None = None,
                 needed_rows: int = 0, needed_per_class: int = 0):
        super().__init__(message)
        self.shared_rows = shared_rows
        self.per_class = dict(per_class or {})
        self.needed_rows = needed_rows
        self.needed_per_class = needed_per_class

    def __reduce__(self):  # crosses the worker process's pipe with its counts
        return (_rebuild_too_few, (str(self), self.shared_rows, self.per_class, self.needed_rows,
                                   self.needed_per_class))


def _rebuild_too_few(message, shared_rows, per_class, needed_rows, needed_per_class) -> TooFewSharedRows:
    return TooFewSharedRows(message, shared_rows=shared_rows, per_class=per_class, needed_rows=needed_rows,
                            needed_per_class=needed_per_class)
