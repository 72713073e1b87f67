"""Pydantic models of every request and response, so /docs tells the truth."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, field_validator

from canvasflow import __version__
from canvasflow.models.base import Message


def _aware(value: datetime) -> datetime:
    """Datetimes always say their zone (SQLite hands them back naive, in UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


UTCDateTime = Annotated[datetime, AfterValidator(_aware)]


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` inlined, for ``openapi_extra`` (where a
    ``#/$defs/...`` reference would not resolve)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.rsplit("/", 1)[1]]))
            if isinstance(node.get("discriminator"), dict):  # its mapping names $defs
                node = {
                    **node,
                    "discriminator": {"propertyName": node["discriminator"]["propertyName"]},
                }
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


class HistoryMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["userMessage", "apiMessage", "user", "assistant"] | None = None
    type: Literal["userMessage", "apiMessage", "user", "assistant"] | None = None
    content: str | None = None
    message: str | None = None

    def as_chat(self) -> Message:
        kind = self.role or self.type or "userMessage"
        role = "user" if kind in ("userMessage", "user") else "assistant"
        return {
            "role": role,
            "content": self.content if self.content is not None else (self.message or ""),
        }


class HumanInput(BaseModel):
    """The answer to an agentflow that stopped at a human input."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["proceed", "reject"] = Field(..., description="proceed or reject")
    startNodeId: str | None = Field(
        None, max_length=200, description="The human-input node the run waits at"
    )
    feedback: str | None = Field(None, max_length=20000, description="What the person says")


class PredictionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    question: str | None = Field(None, description="The user's question")
    streaming: bool = Field(False, description="Answer as a server-sent event stream")
    overrideConfig: dict[str, Any] | None = Field(
        None, description="sessionId, vars, and node inputs the canvas allows"
    )
    chatId: str | None = Field(None, max_length=200, description="The conversation")
    history: list[HistoryMessage] | None = None
    uploads: list[Any] | None = None
    streamFormat: str | None = Field(
        None, description="Wire format of the stream: canvasflow, flowise (or openai)"
    )
    canvasId: str | None = None
    chatflowId: str | None = None
    humanInput: HumanInput | None = Field(
        None, description="Resume an agentflow stopped at a human input (same chatId)"
    )
    form: dict[str, Any] | None = Field(
        None, description="An agentflow's Start form values (startInputType formInput)"
    )

    @field_validator("streaming", mode="before")
    @classmethod
    def _streaming(cls, value: Any) -> Any:
        if value is None:
            return False
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("true", "1", "yes"):
                return True
            if low in ("false", "0", "no", ""):
                return False
        return value

    @field_validator("chatId", mode="before")
    @classmethod
    def _chat_id(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


# -- the event stream (the canvasflow format): each event's ``data:`` JSON -------------


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # fields a newer server adds


class StartData(_Open):
    timestamp: str
    chatId: str | None
    chatMessageId: str
    sessionId: str | None
    canvasId: str
    agentflow: bool | None = None


class StepData(_Open):
    """A tool, agent, retriever or chain step; an agentflow node's start and end (type
    ``agentflow``, with its ``nodeId``, ``label``, ``kind``, ``status``...)."""

    step: str | None
    type: str
    input: Any = None
    output: Any = None


class SourceMetadata(_Open):
    title: str | None = None
    source: str | None = None


class SourceDocument(_Open):
    pageContent: str
    metadata: SourceMetadata


class ExecutedNode(_Open):
    nodeId: str
    nodeLabel: str | None
    status: str


class ActionData(_Open):
    """What a human-input node asks."""

    id: str
    mapping: dict[str, str]
    elements: list[dict[str, Any]]
    data: dict[str, Any]


class MetadataData(_Open):
    chatId: str | None
    chatMessageId: str
    sessionId: str | None
    question: str | None
    memoryType: str | None
    model: str | None
    tokens_used: int
    usage: Usage
    latency_ms: float | None
    status: Literal["running", "completed", "aborted", "error"]
    usedTools: list[dict[str, Any]] | None = None
    json_: Any = Field(None, alias="json")
    executionId: str | None = None
    flowStatus: str | None = None
    executedNodes: list[ExecutedNode] | None = None
    action: ActionData | None = None


class ErrorData(_Open):
    message: str
    code: str
    # the node whose model call failed, when one did
    nodeId: str | None = None


class NodeData(_Open):
    nodeId: str
    status: Literal["running", "done", "error"]
    ms: int | None = None
    tokens: int | None = None


class FlowData(_Open):
    status: Literal["INPROGRESS", "FINISHED", "STOPPED", "ERROR"]
    executionId: str


class StartEvent(BaseModel):
    event: Literal["start"]
    data: StartData


class TokenEvent(BaseModel):
    event: Literal["token"]
    data: str
    text: str


class StepEvent(BaseModel):
    event: Literal["step"]
    data: StepData


class SourceEvent(BaseModel):
    event: Literal["source"]
    data: list[SourceDocument]


class MetadataEvent(BaseModel):
    event: Literal["metadata"]
    data: MetadataData


class ErrorEvent(BaseModel):
    event: Literal["error"]
    data: ErrorData


class NodeEvent(BaseModel):
    event: Literal["node"]
    data: NodeData


class FlowEvent(BaseModel):
    event: Literal["flow"]
    data: FlowData


class ActionEvent(BaseModel):
    event: Literal["action"]
    data: ActionData


class EndEvent(BaseModel):
    event: Literal["end"]
    data: Literal["[DONE]"]


class StreamEvent(
    RootModel[
        Annotated[
            StartEvent
            | TokenEvent
            | StepEvent
            | SourceEvent
            | MetadataEvent
            | ErrorEvent
            | NodeEvent
            | FlowEvent
            | ActionEvent
            | EndEvent,
            Field(discriminator="event"),
        ]
    ]
):
    """One event of a prediction's stream in the canvasflow format: the JSON after
    ``data:`` (PROTOCOL.md, "Stream format canvasflow")."""


class PredictionResponse(BaseModel):
    text: str
    question: str
    chatId: str
    chatMessageId: str
    sessionId: str
    memoryType: str | None = None
    sourceDocuments: list[dict[str, Any]] | None = None
    usedTools: list[dict[str, Any]] | None = None
    agentReasoning: list[dict[str, Any]] | None = None
    json_: Any = Field(None, alias="json")
    isStreamValid: bool
    usage: Usage
    model: str | None = None
    status: str = "completed"
    executionId: str | None = Field(None, description="An agentflow's run")
    agentFlowExecutedData: list[dict[str, Any]] | None = Field(
        None, description="Every node an agentflow executed, with its input and output"
    )
    action: dict[str, Any] | None = Field(
        None, description="What an agentflow stopped at a human input asks (proceed/reject)"
    )


class Problem(BaseModel):
    nodeId: str | None = Field(None, description="The node at fault, if one is")
    input: str | None = Field(None, description="The input at fault, if one is")
    message: str
    level: Literal["error", "warning"] = Field(
        ..., description="error: the canvas cannot run; warning: it runs, but look"
    )


class ErrorResponse(BaseModel):
    statusCode: int
    success: bool = False
    message: str
    problems: list[Problem] | None = Field(
        None, description="A canvas that cannot run: every problem, where it is (422)"
    )


class StreamingCheck(BaseModel):
    isStreaming: bool


class AbortResponse(BaseModel):
    status: int = 200
    message: str = "Chat message aborted"


class CanvasIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(..., min_length=1, max_length=400)
    slug: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9\-_]{0,199}$")
    flowData: str | dict[str, Any]
    settings: dict[str, Any] | None = None


class CanvasUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(None, min_length=1, max_length=400)
    slug: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9\-_]{0,199}$")
    flowData: str | dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    versionMessage: str | None = Field(
        None, max_length=1000, description="Said of the version this save makes"
    )


class CanvasOut(BaseModel):
    id: str
    slug: str
    name: str
    flowData: str = Field(..., description="Flowise-shaped flowData, as a JSON string")
    settings: dict[str, Any]
    isStreaming: bool | None = None
    createdDate: UTCDateTime
    updatedDate: UTCDateTime
    version: int = Field(1, description="The number of its latest version (the draft)")
    published: int | None = Field(
        None, description="The version predictions are answered with, when one is pinned"
    )
    problems: list[Problem] = Field(
        default_factory=list,
        description="Everything wrong with the canvas; it is stored as a draft all the same",
    )


class DraftIn(BaseModel):
    flowData: str | dict[str, Any] = Field(..., description="flowData, a JSON string or object")


class Validation(BaseModel):
    valid: bool = Field(..., description="True when the canvas can run")
    problems: list[Problem]


class ChatMessageOut(BaseModel):
    id: str
    canvasId: str
    chatflowid: str
    chatId: str
    sessionId: str | None
    role: str
    content: str
    sourceDocuments: list[Any] | None = None
    usedTools: list[Any] | None = None
    usage: dict[str, Any] | None = None
    status: str
    createdDate: UTCDateTime
    feedback: dict[str, Any] | None = Field(
        None, description="The feedback given on this answer: {rating, content}"
    )


class ConversationOut(BaseModel):
    sessionId: str | None
    chatId: str
    firstDate: UTCDateTime
    lastDate: UTCDateTime
    messages: int
    firstQuestion: str | None = None
    tokens: int = 0
    thumbsUp: int = 0
    thumbsDown: int = 0
    source: str | None = Field(None, description="What started its latest run (trigger)")
    version: str | None = Field(None, description="The canvas version that answered last")


class UsageDay(BaseModel):
    date: str = Field(..., description="The day (UTC), YYYY-MM-DD")
    predictions: int
    errors: int
    promptTokens: int
    completionTokens: int
    latencyP50: int | None = Field(None, description="Milliseconds")
    latencyP95: int | None = None
    ttftP50: int | None = Field(None, description="Milliseconds to the first token")
    ttftP95: int | None = None


class UsageOut(BaseModel):
    canvasId: str | None = Field(None, description="The canvas, or none for all of them")
    days: list[UsageDay] = Field(..., description="Every day of the period, oldest first")
    total: UsageDay = Field(..., description="The whole period (date: its first day)")


class ConversationPage(BaseModel):
    total: int = Field(..., description="Conversations the filters select")
    conversations: list[ConversationOut]


class DeleteResult(BaseModel):
    deleted: int


# -- executions: the record of every run -------------------------------------------------

ExecutionStatus = Literal["running", "completed", "error", "aborted", "interrupted", "paused"]
# Flowise's execution states, beside canvasflow's statuses
FLOWISE_STATE = {
    "running": "INPROGRESS",
    "completed": "FINISHED",
    "error": "ERROR",
    "aborted": "TERMINATED",
    "interrupted": "TERMINATED",
    "paused": "STOPPED",
}


class TraceEntry(BaseModel):
    """One node of a run: how it ended, its time and tokens, what went in and out."""

    model_config = ConfigDict(extra="allow")
    nodeId: str
    label: str | None = None
    name: str | None = None
    status: str
    ms: int | None = None
    tokens: int | None = None
    input: Any = None
    output: Any = None
    error: Any = None


class ExecutionError(BaseModel):
    """Why a run failed: the error event's message and code."""

    model_config = ConfigDict(extra="allow")
    message: str | None = None
    code: str | None = None


class ExecutionOut(BaseModel):
    id: str
    canvasId: str
    agentflowId: str = Field(description="The canvas's id, as Flowise names it")
    canvasName: str | None = None
    version: str | None = Field(None, description="The canvas version that answered")
    trigger: str
    chatId: str | None = None
    sessionId: str | None = None
    status: ExecutionStatus
    state: str = Field(description="Flowise's state: INPROGRESS, FINISHED, ERROR, ...")
    question: str | None = None
    answer: str | None = None
    error: ExecutionError | None = None
    latencyMs: int | None = None
    ttftMs: int | None = None
    promptTokens: int = 0
    completionTokens: int = 0
    isPublic: bool = False
    createdDate: UTCDateTime
    updatedDate: UTCDateTime
    stoppedDate: UTCDateTime | None = None
    request: dict[str, Any] | None = None
    trace: list[TraceEntry] | None = None
    executionData: str | None = Field(
        None, description="The trace as a JSON string (Flowise's executionData)"
    )


class ExecutionList(BaseModel):
    data: list[ExecutionOut]
    total: int
    page: int
    limit: int


class ExecutionUpdate(BaseModel):
    isPublic: bool


class ExecutionIds(BaseModel):
    executionIds: list[str] = Field(min_length=1, max_length=1000)


class DeletedCount(BaseModel):
    success: bool = True
    deletedCount: int


class RunAgain(BaseModel):
    executionId: str
    chatId: str


class WebhookAccepted(BaseModel):
    executionId: str
    chatId: str
    status: Literal["accepted", "duplicate"]


class WebhookSecret(BaseModel):
    webhookSecret: str = Field(description="Shown once: the Standard Webhooks secret (whsec_...)")


class ScheduleRecord(BaseModel):
    cron: str
    timezone: str
    misfire: str
    nextRunAt: UTCDateTime | None = None
    lastRunAt: UTCDateTime | None = None
    endDate: UTCDateTime | None = None


class ScheduleStatus(BaseModel):
    enabled: bool
    canEnable: bool
    reason: str | None = None
    record: ScheduleRecord | None = None


class ScheduleEnabled(BaseModel):
    enabled: bool


class TickOut(BaseModel):
    id: str
    scheduledAt: UTCDateTime
    status: str
    executionId: str | None = None
    error: str | None = None
    elapsedTimeMs: int | None = None
    process: str | None = None


class TickList(BaseModel):
    data: list[TickOut]
    total: int
    page: int
    limit: int


# -- versions ---------------------------------------------------------------------------


class VersionOut(BaseModel):
    number: int
    name: str
    createdDate: UTCDateTime
    author: str | None = None
    message: str | None = None
    nodes: int = Field(description="How many nodes the version has")
    published: bool = False
    latest: bool = False
    flowData: str | None = Field(None, description="The version's flowData (one version only)")


class InputChange(BaseModel):
    nodeId: str
    input: str
    old: Any = None
    new: Any = None


class NodeRef(BaseModel):
    nodeId: str
    name: str
    label: str | None = None


class VersionDiff(BaseModel):
    """What changed from version ``old`` to ``new``: nodes, their inputs, edges."""

    old: int
    new: int
    nodesAdded: list[NodeRef]
    nodesRemoved: list[NodeRef]
    inputsChanged: list[InputChange]
    edgesAdded: list[str]
    edgesRemoved: list[str]
    nameChanged: bool = False


class PublishIn(BaseModel):
    version: int | None = Field(None, ge=1, description="The version to serve; null: the latest")


# -- evaluations: datasets, evaluators, runs (canvasflow/evals) ---------------------------


class RowProblem(BaseModel):
    line: int = Field(description="The file's line (1 is the first)")
    reason: str


class DatasetRowIn(BaseModel):
    """A dataset row: Flowise's ``input``/``output``, or ``question``/``expected``."""

    model_config = ConfigDict(extra="ignore")
    datasetId: str | None = None
    input: str | None = None
    output: str | None = None
    question: str | None = None
    expected: str | None = None
    form: dict[str, Any] | None = None
    history: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None


class DatasetRowOut(BaseModel):
    id: str
    datasetId: str
    sequenceNo: int
    input: str
    output: str | None = None
    form: dict[str, Any] | None = None
    history: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    updatedDate: UTCDateTime


class DatasetIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=400)
    description: str = Field("", max_length=10_000)
    csvFile: str | None = Field(
        None, description="Flowise's: a CSV as a data URI (or plain text); rows are added"
    )
    firstRowHeaders: bool | None = None
    rows: list[DatasetRowIn] | None = None


class DatasetUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = Field(None, min_length=1, max_length=400)
    description: str | None = Field(None, max_length=10_000)
    csvFile: str | None = None
    firstRowHeaders: bool | None = None


class DatasetOut(BaseModel):
    id: str
    name: str
    description: str
    createdDate: UTCDateTime
    updatedDate: UTCDateTime
    rowCount: int
    rows: list[DatasetRowOut] | None = None
    problems: list[RowProblem] = Field(
        default_factory=list, description="Rows of an imported file that were not read"
    )


class DatasetImport(BaseModel):
    content: str = Field(description="The file's text")
    format: Literal["csv", "jsonl", "json"] = "csv"
    firstRowHeaders: bool | None = None
    replace: bool = Field(False, description="Replace every row instead of adding")


class ImportResult(BaseModel):
    added: int
    problems: list[RowProblem]


class RowIds(BaseModel):
    ids: list[str]


class EvaluatorIn(BaseModel):
    """Flowise's evaluator (``type`` text, json, numeric or llm, with ``operator``,
    ``value``, ``measure``, ``prompt``) and canvasflow's: ``similarity`` (``value`` the
    threshold), a judge's ``rubric`` and chat ``model`` node ({name, inputs})."""

    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=400)
    type: Literal["text", "json", "numeric", "similarity", "llm"]
    operator: str | None = None
    value: str | float | None = None
    measure: str | None = None
    prompt: str | None = Field(None, max_length=20_000)
    rubric: str | None = Field(None, max_length=5_000)
    model: dict[str, Any] | None = None


class EvaluatorOut(BaseModel):
    id: str | None = None
    name: str
    type: Literal["text", "json", "numeric", "similarity", "llm"]
    operator: str | None = None
    value: str | None = None
    measure: str | None = None
    prompt: str | None = None
    rubric: str | None = None
    model: dict[str, Any] | None = None
    createdDate: UTCDateTime | None = None
    updatedDate: UTCDateTime | None = None


class EvaluatorCatalog(BaseModel):
    """What the evaluator form offers: operators, measures, the judge's default prompt
    and rubric (shown, editable), the builtin short names the CLI takes."""

    textOperators: list[str]
    jsonOperators: list[str]
    numericOperators: list[str]
    measures: list[str]
    judgePrompt: str
    judgeRubric: str
    judgeModel: dict[str, Any]
    builtins: list[str]


class EvaluationIn(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: str | None = Field(None, max_length=400)
    canvasId: str = Field(alias="chatflowId", description="The canvas (id, slug or name)")
    datasetId: str = Field(description="The dataset (id or name)")
    versions: list[int] | None = Field(
        None, description="Versions to run (default: the one the canvas serves)"
    )
    evaluators: list[str | dict[str, Any]] | None = Field(
        None,
        description="Saved evaluators (id or name), builtins (contains, regex:...), or "
        "inline configurations; default: contains, when rows have expected answers",
    )
    concurrency: int = Field(4, ge=1, le=32)


class VerdictOut(BaseModel):
    name: str
    type: str
    result: Literal["Pass", "Fail", "Error"]
    score: float | None = None
    detail: str | None = None


class EvaluationRowOut(BaseModel):
    id: str
    rowId: str
    sequenceNo: int
    version: int
    input: str
    expected: str | None = None
    answer: str | None = None
    executionId: str | None = None
    outcome: Literal["passed", "failed", "error"]
    error: str | None = None
    latencyMs: int | None = None
    promptTokens: int = 0
    completionTokens: int = 0
    cost: float | None = None
    verdicts: list[VerdictOut]


class EvaluationOut(BaseModel):
    id: str
    name: str
    canvasId: str
    canvasName: str | None = None
    datasetId: str
    datasetName: str | None = None
    status: Literal["pending", "running", "completed", "error", "aborted"]
    versions: list[int]
    evaluators: list[EvaluatorOut]
    concurrency: int
    total: int
    done: int
    summary: dict[str, Any] | None = Field(
        None,
        description="passRate, meanScore, latencyMs and tokens percentiles, cost, "
        "byVersion, byEvaluator, latencyHistogram (live while it runs)",
    )
    error: str | None = None
    changes: list[str] = Field(
        default_factory=list, description="What differs from the run this one repeats"
    )
    previous: str | None = None
    createdDate: UTCDateTime
    endedDate: UTCDateTime | None = None
    rows: list[EvaluationRowOut] | None = None


class Outdated(BaseModel):
    outdated: bool
    changes: list[str]


class RunAgainIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    latest: bool = Field(False, description="Answer with the canvas's latest version")


class CompareSide(BaseModel):
    outcome: str
    answer: str | None = None
    error: str | None = None
    score: float | None = None
    latencyMs: int | None = None
    version: int
    executionId: str | None = None
    verdicts: list[VerdictOut]


class CompareRow(BaseModel):
    rowId: str
    sequenceNo: int
    input: str
    expected: str | None = None
    change: Literal["worse", "better", "same"]
    a: CompareSide | None = None
    b: CompareSide | None = None


class Comparison(BaseModel):
    a: EvaluationOut
    b: EvaluationOut
    rows: list[CompareRow]


class ModelPriceIn(BaseModel):
    input: float = Field(ge=0, description="USD per million input tokens")
    output: float = Field(ge=0, description="USD per million output tokens")


class Prices(BaseModel):
    prices: dict[str, ModelPriceIn]


# -- the server: ping, the queue -----------------------------------------------------------


class QueueStats(BaseModel):
    mode: str
    depth: int
    running: int
    workers: list[dict[str, Any]]


class Ping(BaseModel):
    status: str = "ok"
    version: str = __version__


# -- API keys ------------------------------------------------------------------------------


class ApiKeyIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)
    admin: bool = False
    canvases: list[str] = Field(default_factory=list, description="canvas ids or slugs")


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    admin: bool
    canvases: list[str]
    createdDate: UTCDateTime


# -- a canvas as an MCP server -------------------------------------------------------------


_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _tool_name(value: str | None) -> str | None:
    if value is not None and not _TOOL_NAME.match(value):
        raise ValueError("toolName: 1 to 64 letters, digits, _ or -")
    return value


class McpServerCreate(BaseModel):
    toolName: str | None = Field(None, description="Defaults to the canvas's name")
    description: str | None = Field(None, min_length=1, max_length=2000)

    _name = field_validator("toolName")(_tool_name)


class McpServerUpdate(BaseModel):
    toolName: str | None = None
    description: str | None = Field(None, min_length=1, max_length=2000)
    enabled: bool | None = None

    _name = field_validator("toolName")(_tool_name)


class McpServerConfig(BaseModel):
    enabled: bool
    toolName: str
    description: str
    token: str = Field(
        "",
        description="Shown only when made or rotated (the server keeps its hash); empty otherwise",
    )
    url: str = Field(..., description="The MCP endpoint (Streamable HTTP)")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Ready to paste: Claude Desktop / Cursor (through mcp-remote)",
    )


# -- the node catalogue --------------------------------------------------------------------


class InputOption(BaseModel):
    model_config = ConfigDict(extra="allow")
    label: str
    name: str


class InputDesc(BaseModel):
    """One input of a node, in Flowise's descriptor shape."""

    model_config = ConfigDict(extra="allow")
    name: str
    label: str
    type: str
    description: str
    optional: bool
    list_: bool = Field(alias="list")  # (named so as not to hide the builtin below)
    additionalParams: bool
    default: Any = None
    options: list[InputOption] | None = None
    placeholder: str | None = None
    rows: int | None = None
    step: int | float | None = None
    min: int | float | None = None
    max: int | float | None = None
    # an "array" input's fields (an agentflow's messages, conditions, scenarios, state)
    array: list[InputDesc] | None = None
    acceptVariable: bool | None = Field(
        None, description="Its text may name the run's values ({{ question }}...), as Flowise's"
    )


class CredentialSlot(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    label: str
    credentialNames: list[str]


class NodeDesc(BaseModel):
    """A node as the catalogue describes it (``GET /api/v1/nodes``)."""

    model_config = ConfigDict(extra="allow")
    name: str
    label: str
    version: int | float
    type: str
    category: str
    description: str
    baseClasses: list[str]
    inputs: list[InputDesc]
    credential: CredentialSlot | None = None
    ending: bool
    icon: str
    flowise: bool
    # an Agentflow v2 node: connected by edges between its handles, not by typed inputs
    agentflow: bool | None = None
    outputs: list[dict[str, Any]] | None = None
    # what this installation lacks to run it (pip install 'canvasflow[...]')
    needs: list[str] | None = None


class LoadMethodRequest(BaseModel):
    loadMethod: str = Field(
        ...,
        description="listActions: the tools of an MCP node's server; listModels: the "
        "models a chat model or embeddings node's provider lists",
    )
    inputs: dict[str, Any] = Field(default_factory=dict, description="The node's form values")
    credential: str | None = None


class NodeOption(BaseModel):
    label: str
    name: str
    description: str = ""


# -- the OpenAI-compatible door ------------------------------------------------------------


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.get("text", "") for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[ChatMessageIn]
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    user: str | None = None


class ModelCard(BaseModel):
    id: str
    object: str = "model"
    created: int
    owned_by: str = "canvasflow"


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    code: int | str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorBody


# -- credentials ---------------------------------------------------------------------------


class CredentialIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)
    credentialName: str = Field(..., description="The kind, e.g. openAIApi")
    plainDataObj: dict[str, Any] = Field(
        default_factory=dict, description='The fields, e.g. {"openAIApiKey": "sk-..."}'
    )


class CredentialUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    plainDataObj: dict[str, Any] | None = Field(
        None, description="New field values; a masked value keeps the stored one"
    )


class CredentialOut(BaseModel):
    id: str
    name: str
    credentialName: str
    createdDate: UTCDateTime
    plainDataObj: dict[str, Any] | None = Field(
        None, description="The fields, secret ones masked (only for one credential)"
    )


class CredentialField(BaseModel):
    """One field of a credential kind (Flowise's description of it)."""

    model_config = ConfigDict(extra="allow")
    name: str
    label: str
    type: str
    optional: bool | None = None


class CredentialKind(BaseModel):
    name: str
    label: str
    description: str | None = None
    inputs: list[CredentialField]


# -- the chat widget's feedback and leads --------------------------------------------------


class FeedbackIn(BaseModel):
    chatflowid: str | None = None
    chatId: str = Field(..., max_length=200)
    messageId: str = Field(..., max_length=36)
    rating: str = Field(..., pattern="^(THUMBS_UP|THUMBS_DOWN)$")
    content: str | None = Field(None, max_length=10_000)


class FeedbackUpdate(BaseModel):
    rating: str | None = Field(None, pattern="^(THUMBS_UP|THUMBS_DOWN)$")
    content: str | None = Field(None, max_length=10_000)


class FeedbackOut(BaseModel):
    id: str
    chatflowid: str
    chatId: str
    messageId: str
    rating: str
    content: str | None = None
    createdDate: UTCDateTime


class LeadIn(BaseModel):
    chatflowid: str = Field(..., max_length=200)
    chatId: str = Field(..., max_length=200)
    name: str | None = Field(None, max_length=400)
    email: str | None = Field(None, max_length=400)
    phone: str | None = Field(None, max_length=100)


class LeadOut(BaseModel):
    id: str
    chatflowid: str
    chatId: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    createdDate: UTCDateTime


class ChosenModel(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(..., description="A chat model node's name (chatOpenAI, chatLocal...)")
    inputs: dict[str, Any] | None = Field(None, description="Its inputs (modelName...)")
    credential: str | None = Field(None, description="A stored credential's id")


class GenerateIn(BaseModel):
    question: str = Field(..., max_length=8000, description="What the agentflow should do")
    selectedChatModel: ChosenModel


class GeneratedFlow(BaseModel):
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    problems: list[Problem] = Field(
        default_factory=list, description="What to fill in before it runs (the validator's)"
    )


# -- global variables and the tools library -----------------------------------------------


class VariableIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=100, description="Read as $vars.name")
    value: str = Field(
        "",
        max_length=100_000,
        description="static: the value; runtime: the environment variable read (empty: "
        "the one of the same name)",
    )
    type: Literal["static", "runtime"] = "static"


class VariableUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    value: str | None = Field(None, max_length=100_000)
    type: Literal["static", "runtime"] | None = None


class VariableOut(BaseModel):
    id: str
    name: str
    value: str
    type: str
    createdDate: UTCDateTime
    updatedDate: UTCDateTime


class ToolIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    name: str = Field(..., min_length=1, max_length=100)
    description: str = Field("", max_length=10_000)
    color: str | None = Field(None, max_length=40)
    iconSrc: str | None = Field(None, max_length=2000)
    schema_: str | None = Field(
        None,
        alias="schema",
        max_length=100_000,
        description="Its arguments: a JSON schema, or Flowise's list of {property, type, "
        "description, required}, as JSON text",
    )
    func: str | None = Field(None, max_length=200_000, description="Its JavaScript")


class ToolUpdate(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=10_000)
    color: str | None = Field(None, max_length=40)
    iconSrc: str | None = Field(None, max_length=2000)
    schema_: str | None = Field(None, alias="schema", max_length=100_000)
    func: str | None = Field(None, max_length=200_000)


class ToolOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: str
    name: str
    description: str
    color: str | None = None
    iconSrc: str | None = None
    schema_: str | None = Field(None, alias="schema")
    func: str | None = None
    createdDate: UTCDateTime
    updatedDate: UTCDateTime


class ToolRun(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    func: str = Field(..., max_length=200_000)
    schema_: str | None = Field(None, alias="schema", max_length=100_000)
    name: str | None = Field(None, max_length=100)
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolRunResult(BaseModel):
    output: str | None = Field(
        None, description="What the tool returned (JSON for anything but text)"
    )
    error: str | None = Field(None, description="Why it failed (time, memory, a throw...)")
    ms: int


class SnippetOut(BaseModel):
    key: str
    label: str
    language: Literal["shell", "python", "javascript"]
    code: str


class OverridableInput(BaseModel):
    nodeId: str
    nodeLabel: str
    input: str = Field(..., description="The input's name, the key in overrideConfig")
    label: str
    type: str
    allowed: bool = Field(..., description="Whether the canvas lets a request change it")


class ApiDialog(BaseModel):
    """What a canvas's API dialog shows: its prediction URL, whether it needs a key, the
    code to call it, and the inputs a request's overrideConfig may change."""

    predictionUrl: str
    locked: bool = Field(..., description="The canvas has keys: the code reads CANVASFLOW_KEY")
    snippets: list[SnippetOut]
    inputs: list[OverridableInput]
    allowedOverrides: list[str]


class PublicCanvas(BaseModel):
    """What the public chatbot page learns of a canvas."""

    id: str
    name: str
    isPublic: bool


class ChatStats(BaseModel):
    """Flowise's chatflow statistics (``/api/v1/stats/{id}``)."""

    totalMessages: int = Field(..., description="Questions and answers stored")
    totalSessions: int
    totalFeedback: int = Field(..., description="Answers rated")
    positiveFeedback: int = Field(..., description="Answers rated thumbs up")


# -- vector upsert -------------------------------------------------------------------------


class UpsertResult(BaseModel):
    numAdded: int
    numSkipped: int
    numUpdated: int
    numDeleted: int


# -- a browser's session -------------------------------------------------------------------


class SignIn(BaseModel):
    key: str = Field(..., min_length=1, max_length=500, description="An API key")


class SessionInfo(BaseModel):
    signedIn: bool
    admin: bool
    name: str | None = None
    authRequired: bool = Field(..., description="False when the server runs with --no-auth")


# -- the files folder (what folderFiles nodes read) -----------------------------------


class StoredFile(BaseModel):
    path: str = Field(..., description="Under the folder, with / between parts")
    size: int
    modified: UTCDateTime


class FolderOut(BaseModel):
    folder: str
    exists: bool
    files: list[StoredFile]
    totalBytes: int


# -- the studio's Models page: the model new canvases and templates use ---------------


class ModelChoice(BaseModel):
    """A model as a node configures it: the node, its credential, its model and, for a
    node that takes one, its server's address."""

    node: str = Field(..., description="A chat model or embeddings node (chatOpenAI, ...)")
    modelName: str = Field("", max_length=200)
    credential: str | None = Field(None, max_length=200)
    baseUrl: str | None = Field(None, max_length=300)


class ModelDefaults(BaseModel):
    chat: ModelChoice | None = None
    embeddings: ModelChoice | None = None


class OllamaStatus(BaseModel):
    found: bool
    url: str
    models: list[str]


# -- templates saved from canvases ("My templates"; Flowise's custom templates) -------


class TemplateIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=400)
    description: str = Field("", max_length=4000)
    canvasId: str | None = Field(None, description="The canvas to save (or Flowise's chatflowId)")
    chatflowId: str | None = None
    usecases: list[str] | None = None


class MarketplaceTemplate(BaseModel):
    """One of Flowise's marketplace templates (``GET /api/v1/marketplaces/templates``), in
    Flowise's shape, with what canvasflow's validator says it needs before it runs."""

    id: str
    templateName: str
    type: Literal["Chatflow", "AgentflowV2"]
    description: str = ""
    usecases: list[str] = Field(default_factory=list)
    framework: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list, description="Its nodes' categories")
    nodes: list[str] = Field(default_factory=list, description="Its nodes' labels")
    needs: list[str] = Field(
        default_factory=list,
        description="What to give it before it runs (a key, a file, an input to fill in), "
        "and the nodes canvasflow lacks (it then opens as a draft naming them)",
    )
    runs: bool = Field(..., description="Runs as it is on this server (no key, file or gap)")
    flowData: str


class TemplateOut(BaseModel):
    id: str
    name: str
    description: str
    type: str = Field(..., description="Chatflow or AgentflowV2")
    flowData: str
    usecases: list[str] | None = None
    createdDate: UTCDateTime


# -- document stores (Flowise's /api/v1/document-store) ------------------------------------


class DocumentStoreIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=100)
    description: str = Field("", max_length=10_000)


class DocumentStoreUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=10_000)


class WhereUsed(BaseModel):
    id: str
    name: str


class LoaderFile(BaseModel):
    name: str
    size: int
    sha256: str | None = Field(None, description="Its content's hash")


class JobOut(BaseModel):
    """A loader's processing, as it goes or as it ended."""

    state: str = Field(description="running, done, failed (no source could be read), cancelled")
    filesTotal: int = Field(description="Sources to read (files; 1 for other loaders)")
    files: int = Field(description="Sources read so far")
    chunks: int = Field(description="Chunks the sources gave")
    embedded: int = Field(description="Chunks embedded and written (new or changed)")
    skipped: int = Field(description="Chunks already there, unchanged")
    deleted: int = Field(description="Chunks no source gives any more, removed")
    failed: list[dict[str, str]] = Field(description="Each source not read: source, error")
    startedAt: float
    finishedAt: float | None = None
    process: str | None = Field(None, description="host:pid of the process running it")


class LoaderOut(BaseModel):
    """A document store's loader as Flowise keeps it."""

    id: str
    loaderId: str = Field(description="The loader node's name, e.g. fileLoader")
    loaderName: str
    loaderConfig: dict[str, Any]
    splitterId: str | None = None
    splitterName: str | None = None
    splitterConfig: dict[str, Any] = Field(default_factory=dict)
    totalChunks: int = 0
    totalChars: int = 0
    status: str = Field(description="NEW, SYNCING, SYNC, STALE")
    files: list[LoaderFile] = Field(default_factory=list)
    source: str = ""
    job: JobOut | None = None


class DocumentStoreOut(BaseModel):
    """A document store as Flowise answers it."""

    id: str
    name: str
    description: str
    status: str = Field(
        description="EMPTY (no loader yet), SYNC, SYNCING, STALE, NEW, UPSERTING, UPSERTED"
    )
    loaders: list[LoaderOut]
    whereUsed: list[WhereUsed] = Field(description="The canvases whose nodes read it")
    vectorStoreConfig: dict[str, Any] | None = None
    embeddingConfig: dict[str, Any] | None = None
    recordManagerConfig: dict[str, Any] | None = None
    totalChunks: int
    totalChars: int
    createdDate: UTCDateTime
    updatedDate: UTCDateTime


class LoaderPreviewIn(BaseModel):
    """A loader's configuration to preview, as the studio's form has it: nothing is
    saved or embedded."""

    loaderId: str | None = Field(
        None, min_length=1, max_length=100, description="The loader node, e.g. plainText"
    )
    loaderName: str | None = Field(
        None, max_length=100, description="Its label; its node name when loaderId is not given"
    )
    loaderConfig: dict[str, Any] = Field(default_factory=dict, description="Its inputs")
    splitterId: str | None = Field(
        None, max_length=100, description="The splitter node, e.g. recursiveCharacterTextSplitter"
    )
    splitterName: str | None = Field(
        None, max_length=100, description="Its label; its node name when splitterId is not given"
    )
    splitterConfig: dict[str, Any] = Field(default_factory=dict)

    def loader_node(self) -> str:
        name = self.loaderId or self.loaderName
        if not name:
            raise ValueError("loaderId (the loader node, e.g. plainText) is required")
        return name

    def splitter_node(self) -> str | None:
        return self.splitterId or self.splitterName or None

    previewChunkCount: int = Field(20, ge=1, le=1000, description="Chunks to answer")


class Chunk(BaseModel):
    pageContent: str
    metadata: dict[str, Any]


class LoaderSaveIn(LoaderPreviewIn):
    """A loader saved in a store (``id`` changes one it has). A file loader's files may
    come as data URLs in its file input; they are kept in the loader's folder."""

    storeId: str = Field(..., min_length=1, max_length=100)
    id: str | None = Field(None, max_length=36, description="The loader to change")


class ProcessIn(BaseModel):
    storeId: str = Field(..., min_length=1, max_length=100)
    wait: bool = Field(False, description="Answer when done (else at once, with 202)")


class StoredChunk(BaseModel):
    id: str
    storeId: str
    docId: str | None = Field(None, description="The loader it came from")
    chunkNo: int | None = None
    pageContent: str
    metadata: dict[str, Any]
    score: float | None = Field(None, description="Cosine similarity to the query")


class ChunkPageOut(BaseModel):
    chunks: list[StoredChunk] = Field(description="A page of 50, in the order written")
    count: int = Field(description="The loader's chunks in all")
    file: LoaderOut
    currentPage: int
    storeName: str
    description: str


class ChunkEditIn(BaseModel):
    pageContent: str = Field(..., min_length=1, max_length=1_000_000)
    metadata: dict[str, Any] | None = Field(None, description="Kept as it was when not given")


class VectorStoreIn(BaseModel):
    """A store's embeddings, vector store and record manager (their node names and
    inputs); each defaults to canvasflow's own, which need no key and no network."""

    storeId: str = Field(..., min_length=1, max_length=100)
    embeddingName: str | None = Field(None, max_length=100, description="e.g. openAIEmbeddings")
    embeddingConfig: dict[str, Any] = Field(default_factory=dict)
    vectorStoreName: str | None = Field(None, max_length=100)
    vectorStoreConfig: dict[str, Any] = Field(default_factory=dict, description="e.g. topK")
    recordManagerName: str | None = Field(None, max_length=100)
    recordManagerConfig: dict[str, Any] = Field(default_factory=dict)


class QueryIn(BaseModel):
    storeId: str = Field(..., min_length=1, max_length=100)
    query: str = Field(..., min_length=1, max_length=100_000)
    topK: int | None = Field(None, ge=1, le=100)


class QueryOut(BaseModel):
    timeTaken: float = Field(description="Milliseconds")
    docs: list[StoredChunk]


class UpsertOut(BaseModel):
    """What processing did (Flowise's upsert counts), with the sources not read."""

    numAdded: int
    numUpdated: int = 0
    numSkipped: int
    numDeleted: int
    failed: list[dict[str, str]] = Field(default_factory=list)
    loaderIds: list[str] = Field(default_factory=list, description="The loaders processed")


class LoaderPreviewOut(BaseModel):
    chunks: list[Chunk] = Field(description="The first previewChunkCount chunks")
    totalChunks: int
    previewChunkCount: int
