"""The one exception of the printouts library; callers map it to a response."""

from __future__ import annotations


class PrintoutError(ValueError):
    """The data given cannot be printed (a field missing or of the wrong type), or the font
    cannot be loaded."""
