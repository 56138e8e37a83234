"""report rollups: the cases' counts beside the tickets' sums, and rows summed over the
matters (report_ticket_stats)

Rollups stored before this revision lack both: they are deleted, and the server's sweeper
(or the reports, when next asked) rolls those days up again.

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
            batch_op.add_column(sa.Column(name, sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("by_matter", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.drop_index("ix_report_ticket_stats_period")
        batch_op.create_index(
            "ix_report_ticket_stats_period", ["hall_id", "span", "by_matter", "day"], unique=False
        )


def downgrade():
    op.execute("DELETE FROM report_ticket_stats")
    op.execute("DELETE FROM report_periods")
    with op.batch_alter_table("report_ticket_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_report_ticket_stats_period")
        batch_op.create_index(
            "ix_report_ticket_stats_period", ["hall_id", "span", "day"], unique=False
        )
        batch_op.drop_column("by_matter")
        for name in reversed(CASE_COUNTS):
            batch_op.drop_column(name)
