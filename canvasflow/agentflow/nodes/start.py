"""The Start node: the question or a form, flow state, ephemeral memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from canvasflow.agentflow.nodes.base import KEY_VALUE, WEBHOOK_METHODS, AgentflowNode, Item, rows_of
from canvasflow.agentflow.runner import Done, FlowRun
from canvasflow.runtime.node import Input, flowise_inputs, register

if TYPE_CHECKING:
    from canvasflow.agentflow.graph import FlowNode


@register
class StartAgentflow(AgentflowNode):
    name = "startAgentflow"
    label = "Start"
    description = "Starting point of the agentflow"
    inputs = flowise_inputs(
        name,
        Input(
            "startInputType",
            "options",
            default="chatInput",
            options=("chatInput", "formInput", "webhookTrigger", "scheduleInput"),
        ),
        Input("formTitle", "string", optional=True),
        Input("formDescription", "string", optional=True),
        Input(
            "formInputTypes",
            "array",
            optional=True,
            array=(
                Input("type", "options", options=("string", "number", "boolean", "options")),
                Input("label", "string"),
                Input("name", "string"),
            ),
        ),
        Input("startState", "array", optional=True, array=KEY_VALUE),
        add=(
            Input(
                "webhookMethod", "options", optional=True, default="POST", options=WEBHOOK_METHODS
            ),
            Input("webhookContentType", "string", optional=True),
            Input("webhookURL", "string", optional=True),
            Input(
                "webhookInputMode", "options", optional=True, options=("text", "none", "payload")
            ),
            Input("webhookDefaultInput", "string", optional=True),
            Input("webhookEnableAuth", "boolean", optional=True),
            Input("webhookSecret", "string", optional=True),
            Input("webhookSignatureHeader", "string", optional=True),
            Input("webhookSignatureType", "string", optional=True),
            Input(
                "webhookResponseMode", "options", optional=True, options=("sync", "async", "stream")
            ),
            Input("callbackUrl", "string", optional=True),
            Input("callbackSecret", "string", optional=True),
            Input("webhookEnableValidation", "boolean", optional=True),
            Input("webhookQueryParams", "array", optional=True),
            Input("webhookBodyParams", "array", optional=True),
            Input("webhookHeaderParams", "array", optional=True),
            Input(
                "scheduleType", "options", optional=True, options=("visualPicker", "cronExpression")
            ),
            Input("scheduleCronExpression", "string", optional=True),
            Input("scheduleFrequency", "string", optional=True),
            Input("scheduleOnMinute", "number", optional=True),
            Input("scheduleOnTime", "string", optional=True),
            Input("scheduleOnDayOfWeek", "string", optional=True),
            Input("scheduleOnDayOfMonth", "string", optional=True),
            Input("scheduleEndDate", "string", optional=True),
            Input("scheduleTimezone", "string", optional=True),
            Input("scheduleInputMode", "options", optional=True, options=("text", "form", "none")),
            Input("scheduleDefaultInput", "string", optional=True),
            Input("scheduleFormInputTypes", "array", optional=True),
            Input("scheduleFormDefaults", "json", optional=True),
        ),
    )

    async def execute(self, run: FlowRun, node: FlowNode) -> AsyncIterator[Item]:
        for row in rows_of(node.inputs.get("startState")):
            if row.get("key") and str(row["key"]) not in run.state:
                run.state[str(row["key"])] = run.render(row.get("value"))
        kind = node.inputs.get("startInputType")
        if kind == "formInput" or (kind == "scheduleInput" and run.ctx.form is not None):
            form = dict(run.ctx.form or {})
            yield Done(output={"form": form}, input={"form": form})
            return
        question = run.ctx.question
        if kind == "webhookTrigger" and run.ctx.webhook is not None:
            hook = run.ctx.webhook
            yield Done(
                output={"question": question, "webhook": hook},
                input={"question": question, "webhook": hook},
            )
            return
        yield Done(output={"question": question}, input={"question": question})
