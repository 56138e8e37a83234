"""report rollups: the cases' counts beside the tickets' sums (report_ticket_stats)

Rollups stored before this revision lack the case counts: they are deleted, and the reports
roll those days up again when next asked.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 00:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CASE_COUNTS = (
    "on_the_spot",
    "accepted",
    "correction",
    "rejected",
    "consultation",
    "immediate_handled",
    "immediate_on_the_spot",
    "promised_completed",
    "promised_on_time",
    "early",
    "late",
)


def upgrade():
    op.execute("DELETE FROM report_ticket_stats")
    op.execute("DELETE FROM report_periods")
    with op.batch_alter_table("report_ticket_stats", schema=None) as batch_op:
        for name in CASE_COUNTS:
            batch_op.add_column(
                sa.Column(name, sa.Integer(), server_default="0", nullable=False)
            )


def downgrade():
    with op.batch_alter_table("report_ticket_stats", schema=None) as batch_op:
        for name in reversed(CASE_COUNTS):
            batch_op.drop_column(name)
