"""The matter list (事项清单) as a spreadsheet: template, import and export pages."""

from __future__ import annotations
