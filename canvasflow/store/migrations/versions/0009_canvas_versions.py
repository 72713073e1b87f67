"""every save of a canvas is a version; a canvas may pin the one it serves

Revision ID: 0009
Revises: 0008
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    versions = op.create_table(
        "canvas_versions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("canvas_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("flow_data", sa.Text(), nullable=False),
        sa.Column("message", sa.String(1000), nullable=True),
        sa.Column("author", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("canvas_id", "number", name="uq_canvas_versions_number"),
    )
    op.add_column(
        "canvases", sa.Column("version", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column("canvases", sa.Column("published", sa.Integer(), nullable=True))
    # the canvases there are: their flow as it is now is their first version
    rows = op.get_bind().execute(sa.text("SELECT id, name, flow_data, created_at FROM canvases"))
    op.bulk_insert(
        versions,
        [
            {
                "id": str(uuid.uuid4()),
                "canvas_id": canvas_id,
                "number": 1,
                "name": name,
                "flow_data": flow_data,
                "message": None,
                "author": None,
                "created_at": _when(created),
            }
            for canvas_id, name, flow_data, created in rows
        ],
    )


def _when(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.now(UTC)


def downgrade() -> None:
    with op.batch_alter_table("canvases") as batch:
        batch.drop_column("published")
        batch.drop_column("version")
    op.drop_table("canvas_versions")
