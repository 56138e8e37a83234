"""Searching the service guide: Chinese words, full pinyin and pinyin initials, ranked.

One search serves the kiosk, the phone guide and the API.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hall.models import Matter


def search(session: Session, query: str, *, limit: int = 50) -> list[Matter]:
    """Active matters matching `query`, best first (names before departments and materials).

    Placeholder: substring of the name only; the pinyin index replaces it.
    """
    query = (query or "").strip()
    statement = sa.select(Matter).where(Matter.active.is_(True))
    if query:
        statement = statement.where(Matter.name.contains(query, autoescape=True))
    return list(session.scalars(statement.order_by(Matter.sort_order, Matter.code).limit(limit)))
