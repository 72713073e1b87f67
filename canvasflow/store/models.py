"""SQLAlchemy models. The schema itself is created by the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Canvas(Base):
    __tablename__ = "canvases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(400))
    flow_data: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    # the number of its latest version (the draft), and the one it serves if pinned
    version: Mapped[int] = mapped_column(Integer, default=1)
    published: Mapped[int | None] = mapped_column(Integer, nullable=True)


class CanvasVersion(Base):
    """One saved state of a canvas's flow: immutable, numbered from 1."""

    __tablename__ = "canvas_versions"
    __table_args__ = (UniqueConstraint("canvas_id", "number", name="uq_canvas_versions_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    canvas_id: Mapped[str] = mapped_column(String(36))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(400))
    flow_data: Mapped[str] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    author: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_canvas_session", "canvas_id", "session_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    canvas_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("canvases.id", ondelete="CASCADE"), index=True
    )
    chat_id: Mapped[str] = mapped_column(String(200), index=True)
    session_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    role: Mapped[str] = mapped_column(String(20))  # userMessage | apiMessage
    content: Mapped[str] = mapped_column(Text)
    source_documents: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    used_tools: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="completed")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Credential(Base):
    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credential_name: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key, stored as a scrypt hash. ``prefix`` (public) finds the row; the
    secret part is only ever compared as a hash."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    salt: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(128))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    canvas_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DocumentChunk(Base):
    """A chunk of a document in a collection of the persistent vector store; the
    embedding is float32 bytes (``dims`` of them)."""

    __tablename__ = "document_chunks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    collection: Mapped[str] = mapped_column(String(200), index=True)
    content: Mapped[str] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    dims: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DocumentStoreRow(Base):
    """A document store (Flowise's): knowledge kept outside canvases under a name, with
    its loaders and its vector store, embeddings and record manager configurations as
    Flowise keeps them (JSON). Its chunks are the ``document_chunks`` of the collection
    ``docstore:<id>``; its record manager's namespace is the same."""

    __tablename__ = "document_stores"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="EMPTY")
    loaders: Mapped[list[Any]] = mapped_column(JSON, default=list)
    vector_store_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    embedding_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    record_manager_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DocumentStoreFile(Base):
    """A file uploaded to a document store's loader, kept in the database so that every
    process (web or worker) reads it; read one at a time when the loader is processed."""

    __tablename__ = "document_store_files"

    loader_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    store_id: Mapped[str] = mapped_column(String(36), index=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UpsertionRecord(Base):
    """A record manager's entry (LangChain's indexing): a chunk's key (its content hash)
    written to a vector store under a namespace, the source (file) it came from, and when
    an indexing run last saw it (seconds since the epoch)."""

    __tablename__ = "upsertion_records"
    __table_args__ = (
        Index("ix_upsertion_records_group", "namespace", "group_id"),
        Index("ix_upsertion_records_updated", "namespace", "updated_at"),
    )

    namespace: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_id: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    updated_at: Mapped[float] = mapped_column(Float)


class Feedback(Base):
    """A reader's thumbs up or down on an answer (the chat widget's feedback)."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    canvas_id: Mapped[str] = mapped_column(String(36), index=True)
    chat_id: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str] = mapped_column(String(36), index=True)
    rating: Mapped[str] = mapped_column(String(20))  # THUMBS_UP | THUMBS_DOWN
    content: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Lead(Base):
    """A reader's contact details, left through the chat widget's lead form."""

    __tablename__ = "leads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    canvas_id: Mapped[str] = mapped_column(String(36), index=True)
    chat_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(400), nullable=True)
    email: Mapped[str | None] = mapped_column(String(400), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FlowState(Base):
    """What an agentflow run keeps when it pauses for a person (human input) or keeps
    its flow state for the session: what a later prediction resumes from, on any
    process, after a restart too."""

    __tablename__ = "flow_states"
    __table_args__ = (Index("ix_flow_states_canvas_chat", "canvas_id", "chat_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    canvas_id: Mapped[str] = mapped_column(String(36))
    chat_id: Mapped[str] = mapped_column(String(200))
    session_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # STOPPED | FINISHED | ERROR
    # what the run had: executed nodes, flow state, node outputs, the node it waits at
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Execution(Base):
    """The record of one run of a canvas, whatever started it (Flowise's execution): its
    trigger, the canvas version, status, timings, tokens and the trace of its nodes."""

    __tablename__ = "executions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    canvas_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # prediction | studio | openai | mcp | webhook | schedule
    trigger: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # running | completed | error | aborted | interrupted | paused
    status: Mapped[str] = mapped_column(String(20))
    question: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    trace: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ttft_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ScheduleTick(Base):
    """One tick of a canvas's schedule, claimed by the one process that runs it (the
    unique pair is the claim), then its outcome: Flowise's trigger log."""

    __tablename__ = "schedule_ticks"
    __table_args__ = (UniqueConstraint("canvas_id", "tick", name="uq_schedule_ticks_canvas_tick"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    canvas_id: Mapped[str] = mapped_column(String(36))
    tick: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # RUNNING | SUCCEEDED | FAILED | SKIPPED
    status: Mapped[str] = mapped_column(String(20))
    execution_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    elapsed_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    process: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookDelivery(Base):
    """A webhook delivery already taken (its id), so a sender's retry does not run twice."""

    __tablename__ = "webhook_deliveries"

    canvas_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    execution_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RevokedSession(Base):
    """A browser session signed out before it expired: its cookie is refused until then
    (the cookie is signed, not stored, so signing out must be remembered here)."""

    __tablename__ = "revoked_sessions"

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ServerMeta(Base):
    """A fact every process of the server must agree on (the secret key's fingerprint)."""

    __tablename__ = "server_meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))


class Variable(Base):
    """A global variable (``$vars.name`` in prompts, custom tools and agentflow nodes):
    ``static`` holds its value, ``runtime`` names the environment variable it is read
    from when a run starts (Flowise's variables)."""

    __tablename__ = "variables"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    value: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(20), default="static")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Tool(Base):
    """A custom tool kept once and picked by any canvas's Custom Tool node (Flowise's
    tools): its name, what it does, its arguments' schema and its JavaScript."""

    __tablename__ = "tools"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    color: Mapped[str | None] = mapped_column(String(40), nullable=True)
    icon_src: Mapped[str | None] = mapped_column(Text, nullable=True)
    schema: Mapped[str | None] = mapped_column(Text, nullable=True)
    func: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CustomTemplate(Base):
    """A canvas saved as a template (Flowise's custom template): its flow as it was, its
    credentials left out, to start new canvases from."""

    __tablename__ = "custom_templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(400))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(40), default="Chatflow")
    flow_data: Mapped[str] = mapped_column(Text)
    usecases: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Dataset(Base):
    """Questions a canvas is evaluated on (Flowise's dataset): rows in order."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(400))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class DatasetRow(Base):
    """One input of a dataset: a question (or an agentflow's form), the history before
    it, the answer expected (optional) and free metadata."""

    __tablename__ = "dataset_rows"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(36), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    input: Mapped[str] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)
    form: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    history: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Evaluator(Base):
    """A saved check of an answer (Flowise's evaluator): its type and configuration."""

    __tablename__ = "evaluators"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(400))
    type: Mapped[str] = mapped_column(String(40))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Evaluation(Base):
    """One run of a canvas's versions over a dataset (Flowise's evaluation): what it
    was asked (``config``: versions, evaluators, the dataset's row digests), its
    progress and its summary."""

    __tablename__ = "evaluations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(400))
    canvas_id: Mapped[str] = mapped_column(String(36), index=True)
    dataset_id: Mapped[str] = mapped_column(String(36))
    # pending | running | completed | error | aborted
    status: Mapped[str] = mapped_column(String(20))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EvaluationRow(Base):
    """One dataset row answered by one version in an evaluation, and its verdicts."""

    __tablename__ = "evaluation_rows"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    evaluation_id: Mapped[str] = mapped_column(String(36), index=True)
    row_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    input: Mapped[str] = mapped_column(Text)
    expected: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    execution_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # passed | failed | error
    outcome: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    verdicts: Mapped[list[Any]] = mapped_column(JSON, default=list)


class ModelPrice(Base):
    """What a model costs, in US dollars per million tokens (the operator's table)."""

    __tablename__ = "model_prices"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    input_per_million: Mapped[float] = mapped_column(Float)
    output_per_million: Mapped[float] = mapped_column(Float)
