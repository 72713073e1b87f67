"""Chat models: any OpenAI-compatible endpoint, and the embedded local model."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

from canvasflow.errors import CanvasInvalid
from canvasflow.models.deadlines import Deadlines, Origin
from canvasflow.models.local import DEFAULT_NAME, LocalChatModel, LocalModel
from canvasflow.models.native import AnthropicChatModel, OllamaChatModel
from canvasflow.models.openai_compat import OpenAIChatModel, azure_client_for, client_for
from canvasflow.nodes.services import (
    ANTHROPIC,
    AZURE_OPENAI,
    DEEPSEEK,
    GOOGLE_GENAI,
    GROQ,
    LOCALAI,
    MISTRAL,
    OLLAMA,
    OPENAI,
    Service,
    credential_value,
    server_key,
    service_field,
)
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_bool, to_float, to_int

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

log = logging.getLogger("canvasflow.nodes")

CHAT_BASES = ("BaseChatModel", "BaseLanguageModel", "Runnable")


def limited(model: Any, node: Node, ctx: RunContext) -> Any:
    """A model with the call's deadlines: the server's, shortened by the node's own
    ``timeout`` (ms) when it has one; its errors name the node, the host and whether a
    key was given."""
    service: Service | None = getattr(node, "service", None)
    origin = Origin.of(node.id, node.title, model, service.key_env if service else None)
    model.deadlines = Deadlines.of(ctx.settings, to_float(node.get("timeout")), origin)
    return model


class _OpenAIBase(Node):
    """Any model behind an OpenAI-compatible API. Subclasses name their provider's
    descriptor (where the key and the base URL come from) and the input that may
    change the address."""

    category = "Chat Models"
    service: ClassVar[Service] = OPENAI
    url_input = "basepath"
    max_tokens_input = "maxTokens"

    def params(self) -> dict[str, Any]:
        stop = self.get("stopSequence")
        return {
            "temperature": to_float(self.get("temperature")),
            "max_tokens": to_int(self.get(self.max_tokens_input)),
            "top_p": to_float(self.get("topP")),
            "frequency_penalty": to_float(self.get("frequencyPenalty")),
            "presence_penalty": to_float(self.get("presencePenalty")),
            "stop": [s for s in str(stop).split(",") if s] if stop else None,
        }

    async def build(self, ctx: RunContext) -> OpenAIChatModel:
        service, settings = self.service, ctx.settings
        api_key = await credential_value(ctx, self.get("credential"), service.field)
        base_url = self.get(self.url_input) or service.base_url(settings)
        if not api_key:
            api_key = service.server_key(settings, base_url)
        timeout_ms = to_float(self.get("timeout"))
        client = client_for(
            base_url,
            api_key,
            timeout_ms / 1000 if timeout_ms else settings.model_total_timeout,
            settings.upstream_retries,
            settings.model_connect_timeout,
        )
        return limited(
            OpenAIChatModel(
                client,
                str(self.get("customModelName") or self.get("modelName")),
                self.params(),
                # a JSON answer needs no token stream from upstream
                streaming=to_bool(self.get("streaming"), True) and ctx.streaming,
            ),
            self,
            ctx,
        )


@register
class ChatOpenAI(_OpenAIBase):
    name = "chatOpenAI"
    label = "ChatOpenAI"
    base_classes: ClassVar[tuple[str, ...]] = ("ChatOpenAI", "BaseChatOpenAI", *CHAT_BASES)
    # images, reasoning and strict tool calls are not taken yet
    inputs: ClassVar[tuple[Input, ...]] = flowise_inputs(
        name,
        drop=(
            "allowImageUploads",
            "reasoning",
            "reasoningEffort",
            "reasoningSummary",
            "strictToolCalling",
        ),
    )


@register
class ChatOpenAICustom(_OpenAIBase):
    name = "chatOpenAICustom"
    label = "ChatOpenAI Custom"
    base_classes = ("ChatOpenAI-Custom", "BaseChatOpenAI", *CHAT_BASES)
    inputs = flowise_inputs(name, add=(Input("stopSequence", "string", optional=True),))


@register
class ChatLocalAI(_OpenAIBase):
    name = "chatLocalAI"
    label = "ChatLocalAI"
    base_classes = ("ChatLocalAI", "BaseChatOpenAI", *CHAT_BASES)
    service = LOCALAI
    url_input = "basePath"
    inputs = flowise_inputs(name)


@register
class ChatMistralAI(_OpenAIBase):
    """Mistral's API speaks the OpenAI chat format."""

    name = "chatMistralAI"
    label = "ChatMistralAI"
    base_classes = ("ChatMistralAI", *CHAT_BASES)
    service = MISTRAL
    url_input = "overrideEndpoint"
    max_tokens_input = "maxOutputTokens"
    inputs = flowise_inputs(name)


@register
class ChatGoogleGenerativeAI(_OpenAIBase):
    """Gemini, through Google's OpenAI-compatible API."""

    name = "chatGoogleGenerativeAI"
    label = "ChatGoogleGenerativeAI"
    base_classes = ("ChatGoogleGenerativeAI", *CHAT_BASES)
    service = GOOGLE_GENAI
    url_input = "baseUrl"
    max_tokens_input = "maxOutputTokens"
    inputs = flowise_inputs(
        name,
        drop=("allowImageUploads", "thinkingBudget", "thinkingLevel", "topK", "safetySettings"),
    )


@register
class GroqChat(_OpenAIBase):
    """Groq, through its OpenAI-compatible API."""

    name = "groqChat"
    label = "GroqChat"
    base_classes = ("GroqChat", *CHAT_BASES)
    service = GROQ
    inputs = flowise_inputs(
        name,
        Input("modelName", "asyncOptions", default="llama-3.3-70b-versatile"),
        add=(Input("basepath", "string", optional=True),),
    )


@register
class ChatDeepseek(_OpenAIBase):
    """DeepSeek, through its OpenAI-compatible API."""

    name = "chatDeepseek"
    label = "ChatDeepseek"
    base_classes = ("ChatDeepseek", *CHAT_BASES)
    service = DEEPSEEK
    # the reasoning mode is not taken yet
    inputs = flowise_inputs(name, drop=("thinking",))


@register
class ChatLocal(Node):
    """The embedded model (SmolLM2-135M-Instruct by default), no key, no network."""

    name = "chatLocal"
    label = "Embedded Local Model"
    category = "Chat Models"
    base_classes = ("ChatLocal", *CHAT_BASES)
    inputs = (
        Input("modelPath", "string", optional=True),
        Input("temperature", "number", optional=True, default=0.2),
        Input("topP", "number", optional=True, default=0.9),
        Input("repeatPenalty", "number", optional=True, default=1.1),
        Input("maxTokens", "number", optional=True, default=256),
        Input("seed", "number", optional=True),
    )

    async def build(self, ctx: RunContext) -> LocalChatModel:
        from pathlib import Path

        path = self.get("modelPath")
        settings = ctx.settings
        model = LocalModel.get(
            Path(path) if path else settings.local_model,
            settings.local_ctx,
            settings.local_threads,
            settings.local_parallel,
        )
        params = {
            "temperature": to_float(self.get("temperature")),
            "top_p": to_float(self.get("topP")),
            "repeat_penalty": to_float(self.get("repeatPenalty")),
            "max_tokens": to_int(self.get("maxTokens")),
            "seed": to_int(self.get("seed")),
        }
        name = Path(path).stem if path else DEFAULT_NAME
        wait = 0.9 * settings.model_first_token_timeout  # then 503 busy, not a timeout
        return limited(LocalChatModel(model, params, name, wait), self, ctx)


@register
class ChatOllama(Node):
    """Ollama's own chat API (``/api/chat``), streamed as NDJSON."""

    name = "chatOllama"
    label = "ChatOllama"
    category = "Chat Models"
    service = OLLAMA
    base_classes = ("ChatOllama", *CHAT_BASES)
    inputs = (
        Input("cache", "BaseCache", optional=True),
        Input("credential", "credential", optional=True),
        Input("baseUrl", "string", default="http://localhost:11434"),
        Input("modelName", "string"),
        Input("temperature", "number", optional=True, default=0.9),
        Input("streaming", "boolean", optional=True, default=True),
        Input("allowImageUploads", "boolean", optional=True),
        Input("think", "boolean", optional=True),
        Input("jsonMode", "boolean", optional=True),
        Input("keepAlive", "string", optional=True, default="5m"),
        *(
            Input(n, "number", optional=True)
            for n in (
                "topP",
                "topK",
                "mirostat",
                "mirostatEta",
                "mirostatTau",
                "numCtx",
                "numGpu",
                "numThread",
                "repeatLastN",
                "repeatPenalty",
                "tfsZ",
            )
        ),
        Input("stop", "string", optional=True),
    )

    async def build(self, ctx: RunContext) -> OllamaChatModel:
        stop = self.get("stop")
        options = {
            "temperature": to_float(self.get("temperature")),
            "top_p": to_float(self.get("topP")),
            "top_k": to_int(self.get("topK")),
            "mirostat": to_int(self.get("mirostat")),
            "mirostat_eta": to_float(self.get("mirostatEta")),
            "mirostat_tau": to_float(self.get("mirostatTau")),
            "num_ctx": to_int(self.get("numCtx")),
            "num_gpu": to_int(self.get("numGpu")),
            "num_thread": to_int(self.get("numThread")),
            "repeat_last_n": to_int(self.get("repeatLastN")),
            "repeat_penalty": to_float(self.get("repeatPenalty")),
            "tfs_z": to_float(self.get("tfsZ")),
            "stop": [x for x in str(stop).split(",") if x] if stop else None,
        }
        base = self.get("baseUrl") or OLLAMA.base_url(ctx.settings)
        return limited(
            OllamaChatModel(
                str(base),
                str(self.get("modelName")),
                options,
                self.get("keepAlive"),
                to_bool(self.get("jsonMode")),
            ),
            self,
            ctx,
        )


@register
class ChatAnthropic(Node):
    """Anthropic's Messages API, streamed as server-sent events."""

    name = "chatAnthropic"
    label = "ChatAnthropic"
    category = "Chat Models"
    service = ANTHROPIC
    base_classes: ClassVar[tuple[str, ...]] = (
        "ChatAnthropic",
        "ChatAnthropicMessages",
        *CHAT_BASES,
    )
    inputs: ClassVar[tuple[Input, ...]] = flowise_inputs(
        name,
        Input("allowImageUploads", "boolean", optional=True),
        Input("budgetTokens", "number", optional=True),
        Input("adaptiveThinking", "boolean", optional=True),
    )

    async def build(self, ctx: RunContext) -> AnthropicChatModel:
        key = await credential_value(ctx, self.get("credential"), ANTHROPIC.field)
        base = str(ANTHROPIC.base_url(ctx.settings))
        key = key or ANTHROPIC.server_key(ctx.settings, base)
        params = {
            "temperature": to_float(self.get("temperature")),
            "top_p": to_float(self.get("topP")),
            "top_k": to_int(self.get("topK")),
            "max_tokens": to_int(self.get("maxTokensToSample")),
        }
        return limited(
            AnthropicChatModel(base, key, str(self.get("modelName")), params),
            self,
            ctx,
        )


@register
class AzureChatOpenAI(_OpenAIBase):
    """Azure OpenAI: instance, deployment and API version from the ``azureOpenAIApi``
    credential, else ``AZURE_OPENAI_*`` environment variables."""

    name = "azureChatOpenAI"
    label = "Azure ChatOpenAI"
    service = AZURE_OPENAI
    base_classes: ClassVar[tuple[str, ...]] = (
        "AzureChatOpenAI",
        "ChatOpenAI",
        "BaseChatOpenAI",
        *CHAT_BASES,
    )
    inputs: ClassVar[tuple[Input, ...]] = flowise_inputs(
        name,
        Input("modelName", "asyncOptions", optional=True),  # else the deployment's
        drop=("allowImageUploads", "reasoning", "reasoningEffort", "reasoningSummary"),
        add=(Input("stopSequence", "string", optional=True),),
    )

    async def build(self, ctx: RunContext) -> OpenAIChatModel:
        settings, azure = ctx.settings, AZURE_OPENAI
        own_key = await credential_value(ctx, self.get("credential"), azure.field)
        instance = await service_field(ctx, self, azure, "azureOpenAIApiInstanceName")
        deployment = await service_field(ctx, self, azure, "azureOpenAIApiDeploymentName")
        version = await service_field(ctx, self, azure, "azureOpenAIApiVersion") or "2024-10-21"
        endpoint = (
            self.get("basepath")
            or azure.own_url(settings)
            or (f"https://{instance}.openai.azure.com" if instance else None)
        )
        # the server's key goes only to the server's own Azure endpoint
        servers = settings.provider_env("AZURE_OPENAI_INSTANCE_NAME")
        official = azure.own_url(settings) or (
            f"https://{servers}.openai.azure.com" if servers else None
        )
        # checked against the endpoint really used, whatever named it (an input, or the
        # instance of a credential)
        key = own_key or server_key(settings, "AZURE_OPENAI_API_KEY", endpoint, official)
        if not endpoint or not deployment:
            raise CanvasInvalid(
                "Azure OpenAI needs an instance (or endpoint) and a deployment",
                code="credential_missing",
            )
        client = azure_client_for(
            str(endpoint), key, str(deployment), version, ctx.settings.upstream_retries
        )
        return limited(
            OpenAIChatModel(
                client,
                str(self.get("modelName") or deployment),
                self.params(),
                streaming=to_bool(self.get("streaming"), True) and ctx.streaming,
            ),
            self,
            ctx,
        )
