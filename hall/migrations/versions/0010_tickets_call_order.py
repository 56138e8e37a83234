"""tickets in call order: the waiting tickets of a queue (or sent to a window) by priority,
arrival and id, so that a call reads the next few instead of sorting the day's queue

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 02:45:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

WAITING = "status = 'waiting'"
COLUMNS = [
    "target_window_id",
    "queue_id",
    "service_day",
    sa.text("priority DESC"),
    "sort_at",
    "id",
]


def upgrade():
    op.create_index(
        "ix_tickets_call_order",
        "tickets",
        COLUMNS,
        unique=False,
        sqlite_where=sa.text(WAITING),
        postgresql_where=sa.text(WAITING),
    )


def downgrade():
    op.drop_index("ix_tickets_call_order", table_name="tickets")
