"""Text-completion models on hosted APIs: Replicate and Hugging Face inference."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from canvasflow.errors import CanvasInvalid
from canvasflow.models.hosted import HuggingFaceModel, ReplicateModel
from canvasflow.nodes import services
from canvasflow.nodes.chat_models import limited
from canvasflow.nodes.services import allowed_host, credential_value, required_key, service_url
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_float, to_int

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext


@register
class Replicate(Node):
    name = "replicate"
    label = "Replicate"
    category = "LLMs"
    description = "A model hosted on Replicate (owner/name, or owner/name:version)"
    base_classes = (
        "Replicate",
        "BaseChatModel",
        "LLM",
        "BaseLLM",
        "BaseLanguageModel",
        "Runnable",
    )
    inputs = flowise_inputs(name, Input("model", "string"))

    async def build(self, ctx: RunContext) -> ReplicateModel:
        key = await required_key(ctx, self, services.REPLICATE)
        extra = self.get("additionalInputs")
        if isinstance(extra, str) and extra.strip():
            extra = orjson.loads(extra)
        params: dict[str, Any] = {
            "temperature": to_float(self.get("temperature")),
            "max_length": to_int(self.get("maxTokens")),
            "top_p": to_float(self.get("topP")),
            "repetition_penalty": to_float(self.get("repetitionPenalty")),
            **(extra if isinstance(extra, dict) else {}),
        }
        model = ReplicateModel(
            service_url(ctx.settings, services.REPLICATE),
            key,
            str(self.get("model")),
            params,
            ctx.settings.model_total_timeout,
        )
        return limited(model, self, ctx)


@register
class HuggingFaceInferenceLLM(Node):
    name = "huggingFaceInference_LLMs"
    label = "HuggingFace Inference"
    category = "LLMs"
    description = "A text-generation model on Hugging Face's inference API, or your endpoint"
    base_classes = ("HuggingFaceInference", "LLM", "BaseLLM", "BaseLanguageModel", "Runnable")
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> HuggingFaceModel:
        endpoint = str(self.get("endpoint") or "").strip()
        model = str(self.get("model") or "").strip()
        if endpoint:
            # the author's own endpoint: an allowed host, and only the node's own key
            allowed_host(ctx, self, endpoint, "endpoint")
            key = await credential_value(ctx, self.get("credential"), "huggingFaceApiKey")
            url = endpoint
        elif model:
            key = await required_key(ctx, self, services.HUGGINGFACE)
            url = f"{service_url(ctx.settings, services.HUGGINGFACE)}/models/{model}"
        else:
            raise CanvasInvalid(
                f"node {self.id} (huggingFaceInference_LLMs) needs a model or an endpoint",
                code="bad_input",
            )
        params = {
            "temperature": to_float(self.get("temperature")),
            "max_new_tokens": to_int(self.get("maxTokens")),
            "top_p": to_float(self.get("topP")),
            "top_k": to_int(self.get("hfTopK")),
            "repetition_penalty": to_float(self.get("frequencyPenalty")),
        }
        return limited(HuggingFaceModel(url, key, model or endpoint, params), self, ctx)
