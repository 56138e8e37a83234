"""sign-in lockout (users.failed_logins, users.locked_until) and the client address of
audit events (audit_events.ip)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:00:00

"""

import sqlalchemy as sa
from alembic import op

import hall.models.base

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    # Adding nullable or defaulted columns needs no copy of the table on SQLite.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("locked_until", hall.models.base.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ip", sa.String(length=45), nullable=True))


def downgrade():
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of `users` would have to
    # drop a table that others reference.
    op.drop_column("audit_events", "ip")
    op.drop_column("users", "locked_until")
    op.drop_column("users", "failed_logins")
