"""The service guide in the JSON API: GET /api/v1/matters?q=, GET /api/v1/matters/<code>."""

from __future__ import annotations
