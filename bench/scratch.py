"""A scratch PostgreSQL database for the benchmarks (imported by the scripts next to it)."""

from __future__ import annotations

import secrets
import sys

import sqlalchemy as sa


class Postgres:
    """A fresh database hall_bench_<random> on the server of a URL, dropped at the end."""

    def __init__(self, url: str):
        self.server = sa.engine.make_url(url)
        if not self.server.drivername.startswith("postgresql"):
            sys.exit("bench: --database-url must be a postgresql+psycopg:// URL")
        self.name = f"hall_bench_{secrets.token_hex(4)}"
        self.url = self.server.set(database=self.name)
        self.created = False

    def _admin(self):
        admin = self.server.set(database=self.server.database or "postgres")
        return sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def create(self) -> str:
        """Create the database; returns its URL."""
        engine = self._admin()
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        engine.dispose()
        self.created = True
        return self.url.render_as_string(hide_password=False)

    def drop(self) -> None:
        """Drop the database (a no-op when it was not created or is already gone)."""
        if not self.created:
            return
        engine = self._admin()
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        engine.dispose()
        self.created = False
