"""the record manager of document stores (LangChain's indexing: a key per chunk, its
source and when it was last seen)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upsertion_records",
        sa.Column("namespace", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("group_id", sa.String(1000), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_upsertion_records_group", "upsertion_records", ["namespace", "group_id"])
    op.create_index(
        "ix_upsertion_records_updated", "upsertion_records", ["namespace", "updated_at"]
    )


def downgrade() -> None:
    op.drop_table("upsertion_records")
