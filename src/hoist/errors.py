"""The error hierarchy every layer above ``core`` raises from."""

from __future__ import annotations


class HoistError(Exception):
    """Base of hoist's errors. ``str()`` is one line naming the input at fault."""


class InputError(HoistError):
    """Bad input: a file, line or reference the user gave is wrong (CLI exit 2)."""


class OperationError(HoistError):
    """A well-formed operation that failed (CLI exit 1)."""
