"""Errors the hub raises for bad input; each names where the problem is."""

from __future__ import annotations

from pathlib import Path


class HubError(Exception):
    """Base class of errors a user can act on; the CLI prints them and exits non-zero."""


class InvalidIdentifierError(HubError, ValueError):
    """A factory, machine or sensor id does not match its strict pattern."""


class NotFoundError(HubError, LookupError):
    """A factory or machine that is not registered."""


class AlreadyExistsError(HubError):
    """Registering something that is already there."""


class AuthError(HubError, ValueError):
    """A dashboard account that cannot be created or changed as asked: an unknown role or
    language, a factory where the role takes none (or none where it needs one), a password that
    is too short.

    Signing in never raises it: :meth:`analytics.store.users.UserBook.authenticate` answers None
    for every failure, so a caller cannot tell an unknown user from a wrong password.
    """


class StageError(HubError):
    """A stage of one factory's day failed (:func:`analytics.pipeline.process_day`); names the
    factory, the day and the stage, the cause is chained."""

    def __init__(self, factory_id: str, day: object, stage: str, cause: BaseException, partial: object = None) -> None:
        self.factory_id, self.day, self.stage = factory_id, day, stage
        self.partial = partial  # what the stages before it did (a FactoryDay), when known
        super().__init__(f"{factory_id} {day}: {stage} failed: {type(cause).__name__}: {cause}")


class InputFileError(HubError):
    """A file that cannot be read at all (as opposed to bad rows, which are quarantined)."""

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = str(path)
        self.row = row
        self.column = column
        self.reason = message
        where = self.path
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")
