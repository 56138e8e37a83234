"""ticket status expired: tickets still open when their service day ends (day rollover)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:05:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD = "status in ('waiting','called','serving','finished','no_show')"
NEW = "status in ('waiting','called','serving','finished','no_show','expired')"
OPEN = "status in ('waiting','called','serving')"


def _recreate(check: str) -> None:
    """Replace the CHECK constraint of tickets.status (SQLite copies the table for that)."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        # Copying a table that others reference needs foreign keys off, and SQLite ignores
        # that pragma inside a transaction: end the migration's transaction for a moment.
        bind.exec_driver_sql("COMMIT")
        bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
        bind.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        with op.batch_alter_table("tickets", schema=None) as batch_op:
            batch_op.drop_constraint(op.f("ck_tickets_status"), type_="check")
            batch_op.create_check_constraint(op.f("ck_tickets_status"), sa.text(check))
        if sqlite:
            broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"foreign keys broken by copying tickets: {broken[:5]}")
    except Exception:
        if sqlite:
            bind.exec_driver_sql("ROLLBACK")
            bind.exec_driver_sql("PRAGMA foreign_keys=ON")
            bind.exec_driver_sql("BEGIN IMMEDIATE")  # for Alembic to roll back in turn
        raise
    if sqlite:
        bind.exec_driver_sql("COMMIT")
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")
        bind.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade():
    _recreate(NEW)
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tickets_open",
            ["hall_id", "service_day"],
            unique=False,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )


def downgrade():
    # An expired ticket was still open at the end of its day; without the status it is
    # recorded as a no-show (过号), the nearest older state, its events kept.
    op.execute("UPDATE tickets SET status = 'no_show' WHERE status = 'expired'")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_tickets_open",
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )
    _recreate(OLD)
