"""The working-day calendar for admins: holidays, make-up working days, local closures."""

from __future__ import annotations
