"""Completion rates in the JSON API: GET /api/v1/rates?group=window&from=&to=."""

from __future__ import annotations
