"""Manager editing of the catalogue: departments, matters and materials, queues, windows."""

from __future__ import annotations
