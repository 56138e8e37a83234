"""Case documents as PDF for the counter, and the verification page for everyone."""

from __future__ import annotations
