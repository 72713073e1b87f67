"""Agents that use tools by ReAct prompting (Thought / Action / Action Input /
Observation / Final Answer) instead of a provider's tool calling: any model can drive
them, the embedded one included. Flowise's ``conversationalAgent``, ``reactAgentChat``
and ``reactAgentLLM``; the final answer streams as it is written."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.errors import RunFailed
from canvasflow.events import Event, step, token
from canvasflow.events import model as model_event
from canvasflow.events import usage as usage_event
from canvasflow.models.base import Message, Usage
from canvasflow.models.deadlines import Deadlines, guarded
from canvasflow.nodes.chains import load_memory
from canvasflow.nodes.safety import moderate
from canvasflow.nodes.tools import Tool, ToolError, tools_of
from canvasflow.runtime.node import Input, Node, register, to_int

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

REACT_INSTRUCTIONS = """You have access to the following tools:

{tools}

Use the following format:

Question: the input question you must answer
Thought: you should always think about what to do
Action: the action to take, should be one of [{tool_names}]
Action Input: the input to the action
Observation: the result of the action
... (this Thought/Action/Action Input/Observation can repeat N times)
Thought: I now know the final answer
Final Answer: the final answer to the original input question

Begin!"""

DEFAULT_CONVERSATIONAL = (
    "Assistant is a large language model. Assistant is designed to be able to assist with "
    "a wide range of tasks, from answering simple questions to providing in-depth "
    "explanations and discussions on a wide range of topics."
)
DEFAULT_REACT = "Answer the following questions as best you can."

FINAL = "Final Answer:"
_ACTION = re.compile(r"Action\s*:\s*(.+?)\s*\n\s*Action\s*Input\s*:\s*(.*)", re.S)


def react_prompt(preamble: str, tools: list[Tool]) -> str:
    listed = "\n".join(f"{t.name}: {t.description}" for t in tools)
    names = ", ".join(t.name for t in tools)
    return f"{preamble}\n\n" + REACT_INSTRUCTIONS.replace("{tools}", listed).replace(
        "{tool_names}", names
    )


def parse_action(text: str) -> tuple[str, dict[str, Any]] | None:
    """The tool a ReAct turn asks for and its arguments (a JSON object, or the text as
    ``input``); None when the turn asks for none."""
    found = _ACTION.search(text.split("Observation:", 1)[0])
    if found is None:
        return None
    name = found.group(1).strip().strip("`\"'")
    raw = found.group(2).strip().strip("`").strip()
    if raw.startswith("{"):
        try:
            value = orjson.loads(raw)
            if isinstance(value, dict):
                return name, value
        except orjson.JSONDecodeError:
            pass
    return name, {"input": raw.strip("\"'")}


class FinalAnswerStream:
    """Feeds a turn's text in; gives back what follows ``Final Answer:`` as it comes
    (holding back only what could be the start of the marker)."""

    def __init__(self) -> None:
        self.text = ""
        self.sent = 0  # characters of the answer already given out
        self.start = -1

    def feed(self, piece: str) -> str:
        self.text += piece
        if self.start < 0:
            at = self.text.find(FINAL)
            if at < 0:
                return ""
            self.start = at + len(FINAL)
        answer = self.text[self.start :]
        if not self.sent:
            answer = answer.lstrip()
            if not answer:
                return ""
            self.start = len(self.text) - len(answer)
        out = answer[self.sent :]
        self.sent += len(out)
        return out


async def react_turns(
    model: Any,
    messages: list[Message],
    question: str,
    tools: list[Tool],
    turns: int = 10,
) -> AsyncIterator[Event]:
    """The ReAct loop: each turn the model writes a thought and an action (run, its
    observation appended) or a final answer (streamed as tokens)."""
    by_name = {t.name: t for t in tools}
    limits = getattr(model, "deadlines", None) or Deadlines()
    scratchpad = ""
    for _ in range(turns):
        used = Usage()
        final = FinalAnswerStream()
        prompt = [*messages, {"role": "user", "content": f"Question: {question}\n{scratchpad}"}]
        try:
            async for piece in guarded(model.stream(prompt, used), model.model_name, limits):
                out = final.feed(piece)
                if out:
                    yield token(out)
                if final.start < 0 and "\nObservation:" in final.text:
                    break  # the model made up an observation: the tool gives the real one
        except Exception:
            yield usage_event(used.prompt_tokens, used.completion_tokens)
            raise
        yield usage_event(used.prompt_tokens, used.completion_tokens)
        if final.start >= 0:
            return
        action = parse_action(final.text)
        if action is None:  # no format followed: what it wrote is the answer
            answer = final.text.strip()
            answer = answer.split("Thought:", 1)[-1].strip() if answer else answer
            yield token(answer)
            return
        name, args = action
        tool = by_name.get(name)
        failed = None
        try:
            if tool is None:
                raise ToolError(f"{name} is not a valid tool, try one of [{', '.join(by_name)}]")
            output = await tool.call(args)
        except ToolError as exc:
            failed = str(exc)
            output = f"error: {exc}"
        extra = {"error": failed} if failed else {}
        yield step(name, "tool", args, output, **extra)
        thought = final.text.split("\nObservation:", 1)[0].rstrip()
        scratchpad += f"{thought}\nObservation: {output}\nThought:"
    raise RunFailed("the agent stopped: too many tool calls", code="max_iterations")


class _ReactAgent(Node):
    category = "Agents"
    base_classes = ("AgentExecutor", "BaseChain", "Runnable")
    ending = True
    preamble_input = "systemMessage"
    default_preamble = DEFAULT_REACT

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        moderate(self.get("inputModeration"), ctx.question)
        model = self.get("model")
        tools = tools_of(self.get("tools"))
        history: list[Message] = []
        if self.get("memory") is not None:
            reported, history = await load_memory(self.get("memory"), ctx)
            for event in reported:
                yield event
        yield model_event(model.model_name)
        preamble = str(self.get(self.preamble_input) or self.default_preamble)
        messages: list[Message] = [
            {"role": "system", "content": react_prompt(preamble, tools)},
            *history,
        ]
        turns = to_int(self.get("maxIterations"), 10) or 10
        async for event in react_turns(model, messages, ctx.question, tools, turns):
            yield event


_COMMON = (
    Input("tools", "Tool", list=True),
    Input("memory", "BaseChatMemory"),
    Input("inputModeration", "Moderation", optional=True, list=True),
    Input("maxIterations", "number", optional=True),
)


@register
class ConversationalAgent(_ReactAgent):
    name = "conversationalAgent"
    label = "Conversational Agent"
    description = "Conversational agent for a chat model; uses tools by ReAct prompting"
    default_preamble = DEFAULT_CONVERSATIONAL
    inputs = (
        Input("model", "BaseChatModel"),
        *_COMMON,
        Input("systemMessage", "string", optional=True, default=DEFAULT_CONVERSATIONAL, rows=4),
    )


@register
class ReactAgentChat(_ReactAgent):
    name = "reactAgentChat"
    label = "ReAct Agent for Chat Models"
    description = "An agent that thinks and acts (ReAct) with a chat model: no tool calling needed"
    inputs = (Input("model", "BaseChatModel"), *_COMMON)


@register
class ReactAgentLLM(_ReactAgent):
    name = "reactAgentLLM"
    label = "ReAct Agent for LLMs"
    description = "An agent that thinks and acts (ReAct) with a language model"
    inputs = (
        Input("model", "BaseLanguageModel"),
        Input("tools", "Tool", list=True),
        Input("inputModeration", "Moderation", optional=True, list=True),
        Input("maxIterations", "number", optional=True),
    )
