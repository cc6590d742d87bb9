"""The one exception type a user is meant to read: what went wrong, where, and how to fix it."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment; the CLI prints it without a traceback."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n  fix: {self.fix}" if self.fix else text
