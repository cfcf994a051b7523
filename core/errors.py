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
