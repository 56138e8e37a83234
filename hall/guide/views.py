"""Phone-friendly guide pages: departments and search (/guide), one matter (/guide/<code>)."""

from __future__ import annotations
