"""the record of every run; schedules' ticks; webhook deliveries

The table that kept an agentflow's paused or persisted state (``executions``) is now
``flow_states``; ``executions`` holds one record per run of any canvas, as Flowise's
Executions page lists them.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_executions_canvas_chat", "executions")
    op.rename_table("executions", "flow_states")
    op.create_index("ix_flow_states_canvas_chat", "flow_states", ["canvas_id", "chat_id"])
    op.create_table(
        "executions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("canvas_id", sa.String(36), nullable=False),
        sa.Column("version", sa.String(40), nullable=True),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("chat_id", sa.String(200), nullable=True),
        sa.Column("session_id", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.Column("trace", sa.JSON(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("ttft_ms", sa.Integer(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("is_public", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_executions_started", "executions", ["started_at"])
    op.create_index("ix_executions_canvas_started", "executions", ["canvas_id", "started_at"])
    op.create_table(
        "schedule_ticks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("canvas_id", sa.String(36), nullable=False),
        sa.Column("tick", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("execution_id", sa.String(36), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("elapsed_ms", sa.Integer(), nullable=True),
        sa.Column("process", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("canvas_id", "tick", name="uq_schedule_ticks_canvas_tick"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("canvas_id", sa.String(36), primary_key=True),
        sa.Column("delivery_id", sa.String(200), primary_key=True),
        sa.Column("execution_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("schedule_ticks")
    op.drop_index("ix_executions_canvas_started", "executions")
    op.drop_index("ix_executions_started", "executions")
    op.drop_table("executions")
    op.drop_index("ix_flow_states_canvas_chat", "flow_states")
    op.rename_table("flow_states", "executions")
    op.create_index("ix_executions_canvas_chat", "executions", ["canvas_id", "chat_id"])
