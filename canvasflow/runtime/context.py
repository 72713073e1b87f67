"""What a running prediction is given: the question, the chat, the overrides, the store,
the settings. Read-only: nodes report what they do through events, never by writing
here."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.config import Settings
from canvasflow.models.base import Message

if TYPE_CHECKING:
    from canvasflow.credentials import Credentials
    from canvasflow.store.repo import Store


@dataclass(slots=True)
class Identity:
    """Who a prediction answers: the fields every metadata and stored message carry."""

    chat_id: str | None
    chat_message_id: str
    session_id: str | None
    question: str | None
    canvas_id: str = ""


MAX_STEPS = 1000  # nodes one request may run, across every flow it runs inside another


class Budget:
    """What one request may spend, shared by every flow it runs (Execute Flow inside
    Execute Flow, loops in each): nodes run and wall time. A copy of the context made for
    a nested flow keeps the same budget, so nesting cannot multiply the work."""

    __slots__ = ("started", "steps")

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.steps = 0

    def step(self, seconds: float, max_steps: int = MAX_STEPS) -> None:
        from canvasflow.errors import RunFailed

        self.steps += 1
        if self.steps > max_steps:
            raise RunFailed(
                f"the request ran more than {max_steps} nodes (across the flows it ran)",
                code="max_steps",
            )
        if time.monotonic() - self.started > seconds:
            raise RunFailed(
                f"the request ran longer than {seconds:g} s (CANVASFLOW_RUN_TIMEOUT)",
                code="max_time",
            )


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What was asked: everything a run needs that is not a service. Plain data, sent as
    it is to a worker in queue mode (:meth:`dumps`, :meth:`loads`)."""

    question: str
    canvas_id: str = ""
    chat_id: str = ""
    session_id: str = ""
    chat_message_id: str = ""
    # history given in the request body, normalised to chat messages
    history: list[Message] | None = None
    # whether the client reads a stream (else a model may answer in one piece)
    streaming: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)
    return_source_documents: bool = False
    return_intermediate_steps: bool = False
    return_node_events: bool = False
    # what the client uploaded: images (data or http(s) URLs) for a vision-capable model,
    # and the text of files, read with the question
    images: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()
    # an agentflow: the answer to a paused run's human input ({type, startNodeId,
    # feedback}), and a Start node's form values
    human_input: dict[str, Any] | None = None
    form: dict[str, Any] | None = None
    # what started the run (prediction, studio, openai, mcp, webhook, schedule), and a
    # webhook's request ({method, body, query, headers}: ``$webhook`` in templates)
    trigger: str = "prediction"
    webhook: dict[str, Any] | None = None
    # the canvas version that answers (recorded with the run)
    version: str | None = None
    # how many flows this run is nested in (an agentflow's Execute Flow runs another)
    depth: int = 0
    # what the canvas's settings do to the answer once made: post-processing and
    # follow-up prompts (engine/finishing.py), None when nothing
    finishing: dict[str, Any] | None = None
    # the canvas's analytic providers that are on (observability/analytic.py): where its
    # traces go besides the server's own exporter, None when nowhere
    analytic: dict[str, Any] | None = None
    # the global variables' values when the run started ($vars; runtime ones read from
    # the environment then)
    variables: dict[str, str] | None = None

    def dumps(self) -> bytes:
        return orjson.dumps({name: getattr(self, name) for name in REQUEST_FIELDS})

    @classmethod
    def loads(cls, raw: bytes | str | dict[str, Any]) -> RunRequest:
        data = raw if isinstance(raw, dict) else orjson.loads(raw)
        known = {k: v for k, v in data.items() if k in REQUEST_FIELDS}
        for name in ("images", "attachments"):  # JSON arrays back to tuples
            known[name] = tuple(known.get(name) or ())
        return cls(**known)


REQUEST_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RunRequest))


@dataclass(frozen=True, slots=True)
class RunContext(RunRequest):
    """A request with the services that run it: the store, the settings, the stored
    credentials, and what the request may still spend."""

    store: Store | None = None
    settings: Settings = field(default_factory=Settings)
    # the stored credentials nodes may name (decrypted on demand, cached)
    credentials: Credentials | None = None
    # what this request may still spend (nodes, time), shared with the flows it runs
    budget: Budget = field(default_factory=Budget, compare=False)

    @classmethod
    def serving(
        cls,
        request: RunRequest,
        *,
        store: Store | None = None,
        settings: Settings | None = None,
        credentials: Credentials | None = None,
    ) -> RunContext:
        """A context that runs ``request`` with these services and a budget of its own."""
        return cls(
            **{name: getattr(request, name) for name in REQUEST_FIELDS},
            store=store,
            settings=settings if settings is not None else Settings(),
            credentials=credentials,
        )

    @property
    def request(self) -> RunRequest:
        """The request part alone (what a worker is sent)."""
        return RunRequest(**{name: getattr(self, name) for name in REQUEST_FIELDS})

    def running(self, request: RunRequest) -> RunContext:
        """Another request run with this one's services and budget (a nested flow)."""
        return RunContext(
            **{name: getattr(request, name) for name in REQUEST_FIELDS},
            store=self.store,
            settings=self.settings,
            credentials=self.credentials,
            budget=self.budget,
        )

    @property
    def vars(self) -> dict[str, Any]:
        """``$vars``: the global variables, those the request gives
        (``overrideConfig.vars``) over them, as in Flowise."""
        given = self.overrides.get("vars")
        if not self.variables:
            return given if isinstance(given, dict) else {}
        return {**self.variables, **given} if isinstance(given, dict) else dict(self.variables)

    def identity(self) -> Identity:
        return Identity(
            chat_id=self.chat_id,
            chat_message_id=self.chat_message_id,
            session_id=self.session_id,
            question=self.question,
            canvas_id=self.canvas_id,
        )
