"""Domain errors: each carries a stable code, an HTTP-like status and texts in zh and en."""

from __future__ import annotations


class DomainError(Exception):
    """A request the hall's rules refuse; the caller maps it to a response."""

    status = 400

    def __init__(self, code: str, zh: str, en: str, **detail) -> None:
        super().__init__(en)
        self.code = code
        self.zh = zh
        self.en = en
        self.detail = detail

    def message(self, locale: str = "zh") -> str:
        """The text in the given language (zh or en)."""
        return self.en if locale.startswith("en") else self.zh


class NotFound(DomainError):
    """Something named in the request does not exist (hall, queue, ticket, window)."""

    status = 404


class Forbidden(DomainError):
    """The actor may not do this (another hall, a role that lacks the right)."""

    status = 403


class Conflict(DomainError):
    """The action is not allowed in the current state (ticket or window)."""

    status = 409


class Invalid(DomainError):
    """The request is malformed or a value is out of range."""

    status = 400
