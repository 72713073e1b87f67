"""Tools and the tool-calling agent (its tool calls become ``step`` events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from simpleeval import simple_eval

from canvasflow.events import Event, step, token
from canvasflow.models.base import ModelError
from canvasflow.models.openai_compat import OpenAIChatModel, chat_with_tools
from canvasflow.nodes.base import Input, Node, register, to_int

if TYPE_CHECKING:
    from canvasflow.engine.context import RunContext
    from canvasflow.nodes.memory import Memory


class Tool:
    """What an agent can call: a name, a description, a JSON schema and ``call``."""

    name: str
    description: str
    parameters: dict[str, Any]

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    async def call(self, args: dict[str, Any]) -> str:
        raise NotImplementedError


class CalculatorTool(Tool):
    name = "calculator"
    description = "Evaluates an arithmetic expression, e.g. 12*7 or (3+4)/2."
    parameters: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"input": {"type": "string"}},
        "required": ["input"],
    }

    async def call(self, args: dict[str, Any]) -> str:
        expression = str(args.get("input", ""))
        try:
            result = simple_eval(expression)  # no names, no attributes, no calls
        except Exception as exc:
            return f"error: {exc}"
        if isinstance(result, float) and result.is_integer():
            result = int(result)
        return str(result)


@register
class Calculator(Node):
    name = "calculator"
    label = "Calculator"
    category = "Tools"
    base_classes = ("Calculator", "Tool", "StructuredTool", "Runnable")

    async def build(self, ctx: RunContext) -> Tool:
        return CalculatorTool()


DEFAULT_AGENT_SYSTEM = "You are a helpful AI assistant."


@register
class ToolAgent(Node):
    name = "toolAgent"
    label = "Tool Agent"
    category = "Agents"
    base_classes = ("AgentExecutor", "BaseChain", "Runnable")
    ending = True
    inputs = (
        Input("tools", "Tool", list=True),
        Input("memory", "BaseChatMemory"),
        Input("model", "BaseChatModel"),
        Input("chatPromptTemplate", "ChatPromptTemplate", optional=True),
        Input("systemMessage", "string", optional=True, default=DEFAULT_AGENT_SYSTEM),
        Input("inputModeration", "Moderation", optional=True, list=True),
        Input("maxIterations", "number", optional=True),
        Input("enableDetailedStreaming", "boolean", optional=True, default=False),
    )

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:  # type: ignore[override]
        model = self.get("model")
        if not isinstance(model, OpenAIChatModel):
            raise ModelError(f"{model.model_name} cannot call tools", "tools_unsupported")
        raw = self.get("tools") or []
        tools: list[Tool] = raw if isinstance(raw, list) else [raw]
        by_name = {t.name: t for t in tools}
        memory: Memory = self.get("memory")
        history = await memory.load(ctx)
        ctx.model = model.model_name
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": str(self.get("systemMessage"))},
            *history,
            {"role": "user", "content": ctx.question},
        ]
        schemas = [t.schema() for t in tools]
        for _ in range(to_int(self.get("maxIterations"), 10) or 10):
            calls = []
            async for kind, value in chat_with_tools(model, messages, schemas, ctx.usage):
                if kind == "token":
                    yield token(value)
                else:
                    calls = value
            if not calls:
                return
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        }
                        for c in calls
                    ],
                }
            )
            for call in calls:
                try:
                    args = orjson.loads(call.arguments or "{}")
                except orjson.JSONDecodeError:
                    args = {"input": call.arguments}
                tool = by_name.get(call.name)
                output = await tool.call(args) if tool else f"error: no tool {call.name!r}"
                yield step(call.name, "tool", args, output)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": output})
        raise ModelError("the agent stopped: too many tool calls", "max_iterations")
