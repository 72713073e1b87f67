"""agentflow executions (paused at human input, or keeping flow state)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "executions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("canvas_id", sa.String(36), nullable=False),
        sa.Column("chat_id", sa.String(200), nullable=False),
        sa.Column("session_id", sa.String(200), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_executions_canvas_chat", "executions", ["canvas_id", "chat_id"])


def downgrade() -> None:
    op.drop_index("ix_executions_canvas_chat", "executions")
    op.drop_table("executions")
