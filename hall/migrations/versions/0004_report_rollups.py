"""report rollups: the tickets summed per day, ISO week and month (report_ticket_stats,
report_periods)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 22:42:50.518261

"""

import sqlalchemy as sa
from alembic import op

import hall.models.base

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "report_periods",
        sa.Column("hall_id", sa.Integer(), nullable=False),
        sa.Column("span", sa.String(length=5), nullable=False),
        sa.Column("first", sa.Date(), nullable=False),
        sa.Column("issued", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rolled_at", hall.models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("span in ('day','week','month')", name=op.f("ck_report_periods_span")),
        sa.ForeignKeyConstraint(
            ["hall_id"], ["halls.id"], name=op.f("fk_report_periods_hall_id_halls")
        ),
        sa.PrimaryKeyConstraint("hall_id", "span", "first", name=op.f("pk_report_periods")),
    )
    op.create_table(
        "report_ticket_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hall_id", sa.Integer(), nullable=False),
        sa.Column("span", sa.String(length=5), server_default="day", nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("matter_id", sa.Integer(), nullable=True),
        sa.Column("issued", sa.Integer(), server_default="0", nullable=False),
        sa.Column("served", sa.Integer(), server_default="0", nullable=False),
        sa.Column("no_shows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("wait_sum", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("wait_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("service_sum", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("service_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("waits", sa.JSON(), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "span in ('day','week','month')", name=op.f("ck_report_ticket_stats_span")
        ),
        sa.ForeignKeyConstraint(
            ["hall_id"], ["halls.id"], name=op.f("fk_report_ticket_stats_hall_id_halls")
        ),
        sa.ForeignKeyConstraint(
            ["matter_id"], ["matters.id"], name=op.f("fk_report_ticket_stats_matter_id_matters")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["users.id"], name=op.f("fk_report_ticket_stats_staff_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["window_id"], ["windows.id"], name=op.f("fk_report_ticket_stats_window_id_windows")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_ticket_stats")),
    )
    with op.batch_alter_table("report_ticket_stats", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_ticket_stats_period", ["hall_id", "span", "day"], unique=False
        )


def downgrade():
    with op.batch_alter_table("report_ticket_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_report_ticket_stats_period")

    op.drop_table("report_ticket_stats")
    op.drop_table("report_periods")
