"""SQL of the hot paths, run on the driver's cursor inside the session's own transaction.

Issuing a ticket, calling the next one and the counter's actions run a handful of small
statements each. Through SQLAlchemy, executing one costs 60–180 µs of Python (statement
cache, parameter and result processing, ORM loading) against 5–20 µs for the same statement
on the driver's cursor: most of the time of those requests (bench/README.md). So these
statements are written once as SQL text, with ``:name`` parameters, that SQLite and
PostgreSQL both accept, and run here on the DBAPI connection of ``session.connection()``:
the same connection, transaction and locks as every ORM statement of the request (the SQLite
write lock is taken when the session begins, hall/__init__.py ``_tune_engine``).

What SQLAlchemy did for these statements is done here explicitly:
- values are adapted as SQLAlchemy stores them (``Raw.time`` / ``Raw.day``: instants as
  naive UTC, on SQLite as the text ``YYYY-MM-DD HH:MM:SS.ffffff``; days as ``YYYY-MM-DD``),
  and read back with ``read_time`` / ``read_day``;
- driver errors become SQLAlchemy's (``OperationalError``…), so that a database outage is
  answered 503 like any other (hall/__init__.py);
- the ORM's objects are not told about these writes: a function that changes rows here and
  returns ORM objects loads them afterwards (``populate_existing``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

_NAMED = re.compile(r"(?<![:\w]):(\w+)")


class SQL:
    """One statement as text with ``:name`` parameters, for both databases."""

    __slots__ = ("sqlite", "postgresql")

    def __init__(self, text: str):
        self.sqlite = " ".join(text.split())
        self.postgresql = _NAMED.sub(r"%(\1)s", self.sqlite.replace("%", "%%"))

    def __repr__(self) -> str:
        return f"SQL({self.sqlite!r})"


class Raw:
    """The driver's cursor of a session's transaction (begun here when none is)."""

    __slots__ = ("connection", "cursor", "postgres", "dialect")

    def __init__(self, session: Session):
        self.connection = session.connection()
        self.dialect = self.connection.dialect
        self.postgres = self.dialect.name == "postgresql"
        self.cursor = self.connection.connection.driver_connection.cursor()

    def execute(self, sql: SQL, params: dict | None = None):
        """Run a statement; the cursor, to fetch from."""
        text = sql.postgresql if self.postgres else sql.sqlite
        try:
            self.cursor.execute(text, params or {})
        except self.dialect.loaded_dbapi.Error as err:
            raise sa.exc.DBAPIError.instance(
                text, params, err, self.dialect.loaded_dbapi.Error, dialect=self.dialect
            ) from err
        return self.cursor

    def one(self, sql: SQL, params: dict | None = None) -> tuple | None:
        """The first row, or None."""
        return self.execute(sql, params).fetchone()

    def all(self, sql: SQL, params: dict | None = None) -> list[tuple]:
        """Every row."""
        return self.execute(sql, params).fetchall()

    def scalar(self, sql: SQL, params: dict | None = None):
        """The first column of the first row, or None."""
        row = self.execute(sql, params).fetchone()
        return row[0] if row else None

    def rowcount(self, sql: SQL, params: dict | None = None) -> int:
        """How many rows a write changed."""
        return self.execute(sql, params).rowcount

    def time(self, value: datetime | None):
        """An aware instant as the database stores it (naive UTC)."""
        if value is None:
            return None
        value = value.astimezone(UTC).replace(tzinfo=None)
        # SQLAlchemy's text on SQLite: YYYY-MM-DD HH:MM:SS.ffffff (microseconds always)
        return value if self.postgres else value.isoformat(" ", "microseconds")

    def day(self, value: date):
        """A date as the database stores it."""
        return value if self.postgres else value.isoformat()


def read_time(value) -> datetime | None:
    """An instant read back (naive UTC, or SQLite's text) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def read_day(value) -> date:
    """A date read back (SQLite: text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


_KEY = "hall_raw"


def raw(session: Session) -> Raw:
    """The `Raw` of the session's current transaction (made once per transaction)."""
    found = session.info.get(_KEY)
    if found is None:
        found = session.info[_KEY] = Raw(session)
    return found


def _forget(session: Session, transaction) -> None:
    """after_transaction_end: the connection of a transaction is given back with it."""
    if transaction.parent is None:
        session.info.pop(_KEY, None)


if not event.contains(Session, "after_transaction_end", _forget):
    event.listen(Session, "after_transaction_end", _forget)
