"""Open cases for managers: due dates, yellow before and red after, by window and staff."""

from __future__ import annotations
