"""What a canvas's settings do to an answer once its nodes have made it, in Flowise's
shapes, so a Flowise export carries them both ways:

- post-processing (``settings.chatbotConfig.postProcessing``: ``{enabled,
  customFunction}``): a JavaScript function over the answer, run in the V8 sandbox with
  the custom tools' limits. As in Flowise, the answer is then sent whole once processed
  (no tokens stream before it), and a function that fails leaves the answer as it was;
- follow-up prompts (``settings.followUpPrompts``: ``{status, selectedProvider,
  <provider>: {credentialId, modelName, baseUrl, prompt, temperature}}``): a chat model
  suggests the next questions, sent in ``metadata.followUpPrompts`` and stored with the
  answer.

:func:`finishing_of` reads the settings once per prediction (plain data, sent to a worker
with the request); :func:`finished` wraps a run's events. A canvas with neither gets its
events unwrapped: nothing is added to the token path."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.events import Event
from canvasflow.models.base import Usage, complete
from canvasflow.values import json_setting

if TYPE_CHECKING:
    from canvasflow.engine.outcome import Outcome
    from canvasflow.runtime.context import RunContext

log = logging.getLogger("canvasflow.finishing")

# Flowise's provider keys (FollowUpPromptProvider) and the node each one is here;
# canvasflow adds the embedded model, which needs no key
FOLLOW_UP_PROVIDERS: dict[str, str] = {
    "chatAnthropic": "chatAnthropic",
    "azureChatOpenAI": "azureChatOpenAI",
    "chatGoogleGenerativeAI": "chatGoogleGenerativeAI",
    "chatMistralAI": "chatMistralAI",
    "chatOpenAI": "chatOpenAI",
    "groqChat": "groqChat",
    "ollama": "chatOllama",
    "chatLocal": "chatLocal",
}
# the input that holds a server address, per node (Flowise's baseUrl of the config)
BASE_URL_INPUT = {"chatOpenAI": "basepath", "chatOllama": "baseUrl", "chatLocal": ""}

DEFAULT_FOLLOW_UP_PROMPT = (
    "Given the following conversations: {history}. Please help me predict the three most "
    "likely questions that human would ask and keeping each question short and concise."
)
QUESTIONS_SCHEMA = {
    "type": "object",
    "properties": {"questions": {"type": "array", "items": {"type": "string"}}},
    "required": ["questions"],
}
MAX_QUESTIONS = 5
INSTRUCTIONS = (
    "Answer with JSON that matches this JSON schema, and nothing else: "
    + orjson.dumps(QUESTIONS_SCHEMA).decode()
)


_json = json_setting


def post_processing_code(settings: dict[str, Any] | None) -> str | None:
    cfg = _json(((settings or {}).get("chatbotConfig") or {}).get("postProcessing"))
    if not isinstance(cfg, dict) or cfg.get("enabled") is not True:
        return None
    code = cfg.get("customFunction")
    if isinstance(code, str):
        # Flowise stores the function JSON-encoded (a quoted string); plain code is taken
        decoded = _json(code) if code.lstrip().startswith('"') else code
        code = decoded if isinstance(decoded, str) else code
    return code if isinstance(code, str) and code.strip() else None


def follow_up_config(settings: dict[str, Any] | None) -> dict[str, Any] | None:
    cfg = _json((settings or {}).get("followUpPrompts"))
    if not isinstance(cfg, dict) or cfg.get("status") is not True:
        return None
    provider = str(cfg.get("selectedProvider") or "")
    if provider not in FOLLOW_UP_PROVIDERS:
        return None
    chosen = cfg.get(provider)
    return {"provider": provider, **(chosen if isinstance(chosen, dict) else {})}


def finishing_of(settings: dict[str, Any] | None) -> dict[str, Any] | None:
    """The finishing a canvas's settings ask for, as plain data (None: none)."""
    code, follow = post_processing_code(settings), follow_up_config(settings)
    if code is None and follow is None:
        return None
    return {"postProcessing": code, "followUpPrompts": follow}


def check_settings(settings: dict[str, Any] | None) -> str | None:
    """Why the settings' finishing cannot work, said at save (None: it can)."""
    cfg = _json((settings or {}).get("followUpPrompts"))
    if isinstance(cfg, dict) and cfg.get("status") is True:
        provider = str(cfg.get("selectedProvider") or "")
        if provider not in FOLLOW_UP_PROVIDERS:
            return (
                f"followUpPrompts.selectedProvider {provider!r} is not one canvasflow has; "
                f"one of {', '.join(FOLLOW_UP_PROVIDERS)}"
            )
    post = _json(((settings or {}).get("chatbotConfig") or {}).get("postProcessing"))
    if (
        isinstance(post, dict)
        and post.get("enabled") is True
        and not post_processing_code(settings)
    ):
        return "chatbotConfig.postProcessing is enabled but has no customFunction"
    return None


async def finished(
    events: AsyncIterator[Event], ctx: RunContext, finishing: dict[str, Any], outcome: Outcome
) -> AsyncIterator[Event]:
    """The run's events, with the answer post-processed and follow-up prompts after it.
    ``outcome`` is the prediction's reducer, fed every event this yields before the next
    is asked for: what the run made (sources, tool calls, an error, the answer) is read
    from it, not gathered again; only the tokens held back for post-processing are."""
    code = finishing.get("postProcessing")
    follow = finishing.get("followUpPrompts")
    held: list[str] = []
    async for event in events:
        if code and event.kind == "token":
            held.append(event.data)  # sent whole once processed
            continue
        yield event
    failed = outcome.error is not None
    answer = "".join(held) if code else outcome.text
    if code:
        if not failed and answer:
            answer = await post_process(code, answer, ctx, outcome.sources, outcome.used_tools)
        if answer:
            yield Event("token", answer)
    if follow and not failed and answer.strip():
        questions = await follow_up_prompts(follow, ctx.question, answer, ctx)
        if questions:
            yield Event("followUp", questions)


async def post_process(
    code: str, answer: str, ctx: RunContext, sources: Any, used_tools: list[dict[str, Any]]
) -> str:
    """Flowise's post-processing: ``$flow.rawOutput`` and the rest in, the new answer out
    (an object becomes a JSON block, as in Flowise). A failing function keeps the answer."""
    from canvasflow.sandbox import SandboxError, run_js, sandbox_fetch

    settings = ctx.settings
    flow = {
        "chatflowId": ctx.canvas_id,
        "sessionId": ctx.session_id,
        "chatId": ctx.chat_id,
        "input": ctx.question,
        "rawOutput": answer,
        "chatHistory": list(ctx.history or []),
        "sourceDocuments": sources,
        "usedTools": used_tools or None,
    }
    wrapped = (
        "const __result = await (async () => {\n" + code + "\n})();\n"
        "return typeof __result === 'string' ? __result : "
        "'```json\\n' + JSON.stringify(__result, null, 2) + '\\n```';"
    )
    try:
        return await run_js(
            wrapped,
            {"$input": ctx.question, "$vars": ctx.vars, "$flow": flow},
            fetch=sandbox_fetch(settings.outbound_hosts),
            time_limit=settings.tool_timeout,
            memory_mb=settings.tool_memory_mb,
        )
    except SandboxError as exc:
        log.warning("canvas %s: post-processing failed, the answer is kept: %s", ctx.canvas_id, exc)
        return answer


async def follow_up_prompts(
    config: dict[str, Any], question: str, answer: str, ctx: RunContext
) -> list[str]:
    """Up to five next questions from the configured model; none when it fails (the
    answer is never failed for them)."""
    from canvasflow.runtime.node import REGISTRY

    name = FOLLOW_UP_PROVIDERS[config["provider"]]
    inputs: dict[str, Any] = {}
    if config.get("credentialId"):
        inputs["credential"] = config["credentialId"]
    if config.get("modelName"):
        inputs["modelName"] = config["modelName"]
    if config.get("temperature") not in (None, ""):
        inputs["temperature"] = config["temperature"]
    url_input = BASE_URL_INPUT.get(name, "baseUrl")
    if config.get("baseUrl") and url_input:
        inputs[url_input] = config["baseUrl"]
    history = f"user: {question}\nassistant: {answer}"
    prompt = str(config.get("prompt") or DEFAULT_FOLLOW_UP_PROMPT).replace("{history}", history)
    try:
        model = await REGISTRY[name](f"followUpPrompts:{name}", inputs).build(ctx)
        text = await complete(model, prompt + "\n\n" + INSTRUCTIONS, Usage())
    except Exception as exc:  # a suggestion, never the answer's failure
        log.warning("canvas %s: follow-up prompts failed: %s", ctx.canvas_id, exc)
        return []
    return questions_in(text)


def questions_in(text: str) -> list[str]:
    """The questions of a model's answer: ``{"questions": [...]}`` or a JSON list
    (fenced or not), else one question per line ending with a question mark."""
    cleaned = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```")
    starts = [i for i in (cleaned.find("{"), cleaned.find("[")) if i >= 0]
    value: Any = None
    if starts:
        start = min(starts)
        end = cleaned.rfind("}" if cleaned[start] == "{" else "]")
        try:
            value = orjson.loads(cleaned[start : end + 1])
        except orjson.JSONDecodeError:
            value = None
    if isinstance(value, dict):
        value = value.get("questions")
    if isinstance(value, list):
        found = [str(q).strip() for q in value if isinstance(q, str | int | float)]
    else:
        found = [line.strip(" -*0123456789.\t") for line in cleaned.splitlines()]
        found = [q for q in found if q.endswith("?")]
    return [q for q in found if q][:MAX_QUESTIONS]
