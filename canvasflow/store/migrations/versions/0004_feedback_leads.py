"""feedback on answers and leads from the chat widget

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("canvas_id", sa.String(36), nullable=False, index=True),
        sa.Column("chat_id", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False, index=True),
        sa.Column("rating", sa.String(20), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "leads",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("canvas_id", sa.String(36), nullable=False, index=True),
        sa.Column("chat_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(400), nullable=True),
        sa.Column("email", sa.String(400), nullable=True),
        sa.Column("phone", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leads")
    op.drop_table("feedback")
