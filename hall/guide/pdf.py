"""The printable guide: an A4 sheet per matter and a department's booklet, as PDF."""

from __future__ import annotations
