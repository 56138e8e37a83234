"""Cases in the JSON API: list (overdue filter), one case, pause, resume, complete."""

from __future__ import annotations
