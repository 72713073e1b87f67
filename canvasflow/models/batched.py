"""The embedded model serving many predictions at once: one decode loop over one
llama.cpp context, a sequence of its own per prediction (continuous batching).

Built on llama-cpp-python's low-level bindings (``llama_batch``, ``llama_decode``, the
per-sequence KV memory and sampler chains), as llama.cpp's own server does it:

- each prediction takes one of ``parallel`` slots (a sequence id with its own part of
  the KV memory: ``n_ctx`` tokens each); more wait in a queue, in order;
- every step is one ``llama_decode`` of a batch holding the next token of every
  sequence that is generating and a chunk of the prompt of every one that is starting,
  so a sequence joins and leaves between two steps and a new prompt never waits for the
  others' answers to end;
- each sequence samples with its own chain (repeat penalty, top-k, top-p, min-p,
  temperature and seed, as ``Llama.create_chat_completion`` builds it: the same answer
  for one user at temperature 0) and stops at its own stop strings and token limit;
- a slot keeps the tokens it last held, and a new prompt goes to the free slot that
  shares the longest beginning with it (a canvas's system prompt): only the rest is
  decoded;
- an abort frees the slot before the next step.

The loop runs in a thread of its own; ctypes lets the GIL go during each decode, so the
event loop keeps serving. Text reaches the awaiting coroutine through
``call_soon_threadsafe``, a few characters at a time, never the whole answer again."""

from __future__ import annotations

import asyncio
import codecs
import ctypes
import logging
import os
import random
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from canvasflow.errors import CanvasflowError, InputInvalid, RunFailed, Unavailable
from canvasflow.models.base import Message, Usage

log = logging.getLogger("canvasflow.local")

_DONE = object()
PENALTY_LAST_N = 64  # the tokens a repeat penalty looks back on (llama-cpp-python's)
N_BATCH = 512  # tokens decoded in one step at most


@dataclass(frozen=True)
class Sampling:
    """One sequence's sampling settings; None: ``create_chat_completion``'s default."""

    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: int | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()

    @classmethod
    def of(cls, params: dict[str, Any]) -> Sampling:
        known = {k: v for k, v in params.items() if v is not None and k in FIELDS}
        stop = known.pop("stop", ())
        return cls(**known, stop=(stop,) if isinstance(stop, str) else tuple(stop))


FIELDS = frozenset(Sampling.__dataclass_fields__)


@dataclass(eq=False)
class _Seq:
    prompt: list[int]
    sampling: Sampling
    stops: tuple[str, ...]
    emit: Callable[[Any], None]  # to the awaiting coroutine (thread-safe)
    slot: int = -1
    fed: int = 0  # prompt tokens in its KV memory
    tokens: list[int] = field(default_factory=list)  # what its slot holds, in order
    sampler: Any = None
    index: int = -1  # its logits' row in the step's batch, -1: none
    last: int = -1  # the token it sampled last (fed in the next step)
    produced: int = 0
    held: str = ""  # text kept back: it may begin a stop string
    decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    aborted: bool = False


class Batcher:
    """One GGUF model, one context, one decode loop; :meth:`stream` is safe to call from
    any number of coroutines at once."""

    def __init__(
        self,
        path: Path,
        n_ctx: int = 2048,
        parallel: int = 8,
        n_threads: int = 0,
        cells: int | None = None,
    ):
        self.path = path
        self.n_ctx = n_ctx  # one sequence's context: its prompt and answer
        self.parallel = max(1, parallel)
        # the KV memory's tokens for every sequence at once: a sequence is admitted when
        # what it may need (its prompt and its token limit) fits beside the others'
        self.cells = max(cells or 2 * n_ctx, n_ctx)
        self.n_threads = n_threads or (os.cpu_count() or 1)
        self._lock = threading.Condition()
        self._waiting: deque[_Seq] = deque()
        self._slots: list[_Seq | None] = [None] * self.parallel
        self._held: list[list[int]] = [[] for _ in range(self.parallel)]  # for reuse
        self._loaded = threading.Lock()
        self._ready = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.steps = 0  # decodes run (for the bench's profile)
        self.reused = 0  # prompt tokens not decoded again, their slot held them

    # -- loading ---------------------------------------------------------------------

    def load(self) -> None:
        with self._loaded:
            if self._ready:
                return
            if not self.path.is_file():
                raise RunFailed(f"model file not found: {self.path}", code="model_missing")
            import llama_cpp
            from llama_cpp import _internals as internals
            from llama_cpp import llama_chat_format

            self._ll = llama_cpp
            params = llama_cpp.llama_model_default_params()
            self._model = internals.LlamaModel(
                path_model=str(self.path), params=params, verbose=False
            )
            cp = llama_cpp.llama_context_default_params()
            cp.n_ctx = self.cells
            cp.n_batch = cp.n_ubatch = N_BATCH
            cp.n_seq_max = self.parallel
            # one pool of KV cells for every sequence (each tagged with its own): memory
            # for ``cells`` tokens in all, whatever ``parallel`` is
            cp.kv_unified = True
            # as Llama() makes its context (no flash attention): the same answers as before
            cp.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
            cp.n_threads = cp.n_threads_batch = self.n_threads
            self._ctx = internals.LlamaContext(model=self._model, params=cp, verbose=False)
            self._memory = llama_cpp.llama_get_memory(self._ctx.ctx)
            self._vocab = self._model.vocab
            self._batch = llama_cpp.llama_batch_init(N_BATCH, 0, 1)
            self._piece = (ctypes.c_char * 64)()
            model = self._model
            eos, bos = model.token_eos(), model.token_bos()
            template = model.metadata().get("tokenizer.chat_template")
            if template is None:
                raise RunFailed(f"{self.path.name} has no chat template", code="model_missing")
            self._format = llama_chat_format.Jinja2ChatFormatter(
                template=template,
                eos_token=model.token_get_text(eos) if eos != -1 else "",
                bos_token=model.token_get_text(bos) if bos != -1 else "",
                stop_token_ids=[eos],
            )
            self._thread = threading.Thread(target=self._loop, name="embedded model", daemon=True)
            self._thread.start()
            self._ready = True

    # -- the coroutine side -------------------------------------------------------------

    def prompt_tokens(self, messages: list[Message]) -> tuple[list[int], tuple[str, ...]]:
        """The chat template applied and tokenized, as ``create_chat_completion`` does."""
        self.load()
        result = self._format(messages=messages)
        tokens = self._model.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        stop = result.stop if isinstance(result.stop, list) else [result.stop]
        return tokens, tuple(s for s in stop if s)

    async def stream(
        self, messages: list[Message], usage: Usage, queue_timeout: float, **params: Any
    ) -> AsyncIterator[str]:
        sampling = Sampling.of(params)
        prompt, stops = await asyncio.to_thread(self.prompt_tokens, messages)
        if len(prompt) >= self.n_ctx:
            raise InputInvalid(
                f"the prompt is {len(prompt)} tokens; the embedded model's context holds "
                f"{self.n_ctx} (CANVASFLOW_LOCAL_CTX)"
            )
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Any] = asyncio.Queue()
        admitted = asyncio.Event()

        def emit(item: Any) -> None:
            loop.call_soon_threadsafe(_deliver, items, admitted, item)

        seq = _Seq(prompt, sampling, stops + sampling.stop, emit)
        with self._lock:
            self._waiting.append(seq)
            self._lock.notify()
        try:
            if not admitted.is_set():
                try:
                    await asyncio.wait_for(admitted.wait(), queue_timeout)
                except TimeoutError:
                    raise Unavailable(
                        f"the embedded model is busy: {self.parallel} answers at once "
                        f"(CANVASFLOW_LOCAL_PARALLEL) and {len(self._waiting)} waiting",
                        code="busy",
                        headers={"Retry-After": "2"},
                    ) from None
            while True:
                item = await items.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    if isinstance(item, CanvasflowError):
                        raise item
                    raise RunFailed(f"embedded model failed: {item}")
                yield item
            usage.add(len(prompt), seq.produced)
        finally:
            if not seq.aborted:
                seq.aborted = True  # the loop frees its slot before its next step
                with self._lock:
                    self._lock.notify()

    # -- the loop -----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._lock:
                self._admit()
                while not any(self._slots) and not self._closed:
                    self._lock.wait()
                    self._admit()
                if self._closed:
                    return
            try:
                self._step()
            except BaseException as exc:  # every sequence in the step learns of it
                log.exception("the embedded model's step failed")
                for slot, seq in enumerate(self._slots):
                    if seq is not None:
                        self._finish(slot, exc)

    def _need(self, seq: _Seq) -> int:
        """The KV cells a sequence may come to hold: its prompt and its answer's limit."""
        limit = seq.sampling.max_tokens or self.n_ctx
        return min(self.n_ctx, len(seq.prompt) + limit)

    def _admit(self) -> None:
        """Free the slots of aborted sequences; give free slots to waiting ones, in
        order, each to the free slot holding the longest beginning of its prompt, when
        what it may need fits in the KV memory beside the others' (the prompts idle
        slots keep are let go first). Called under the lock."""
        ll = self._ll
        for slot, seq in enumerate(self._slots):
            if seq is not None and seq.aborted:
                self._finish(slot, None)
        while self._waiting and None in self._slots:
            seq = self._waiting[0]
            if seq.aborted:
                self._waiting.popleft()
                continue
            free = [i for i, s in enumerate(self._slots) if s is None]
            slot = max(free, key=lambda i: _common(self._held[i], seq.prompt))
            keep = min(_common(self._held[slot], seq.prompt), len(seq.prompt) - 1)
            # another slot (answering, or idle) may hold more of it: its cells are
            # shared (the KV memory is one pool; a cell may belong to several sequences)
            source, shared = slot, keep
            for i, other in enumerate(self._slots):
                held = other.tokens if other is not None else self._held[i]
                common = min(_common(held, seq.prompt), len(seq.prompt) - 1)
                if common > shared:
                    source, shared = i, common
            used = sum(self._need(s) for s in self._slots if s is not None)
            idle = sorted(
                (i for i in free if i != slot and self._held[i]), key=lambda i: -len(self._held[i])
            )
            while used + self._need(seq) + sum(len(self._held[i]) for i in idle) > self.cells:
                if not idle:
                    return  # it waits for a sequence to end
                dropped = idle.pop(0)
                ll.llama_memory_seq_rm(self._memory, dropped, -1, -1)
                self._held[dropped] = []
            self._waiting.popleft()
            if source != slot:
                ll.llama_memory_seq_rm(self._memory, slot, -1, -1)
                ll.llama_memory_seq_cp(self._memory, source, slot, 0, shared)
                keep = shared
            else:
                ll.llama_memory_seq_rm(self._memory, slot, keep, -1)
            self.reused += keep
            seq.slot, seq.fed, seq.tokens = slot, keep, seq.prompt[:keep]
            seq.sampler = self._sampler(seq.sampling)
            self._slots[slot] = seq
            seq.emit(_ADMITTED)

    def _sampler(self, s: Sampling) -> Any:
        """A sampler chain built as ``Llama._init_sampler`` builds it."""
        ll = self._ll
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        add = ll.llama_sampler_chain_add
        n_vocab = self._model.n_vocab()
        add(
            chain,
            ll.llama_sampler_init_penalties(n_vocab, PENALTY_LAST_N, s.repeat_penalty, 0.0, 0.0),
        )
        seed = s.seed if s.seed is not None else random.randint(0, 2**31 - 1)
        if s.temperature < 0:
            add(chain, ll.llama_sampler_init_dist(seed))
        elif s.temperature == 0:
            add(chain, ll.llama_sampler_init_greedy())
        else:
            add(chain, ll.llama_sampler_init_top_k(s.top_k))
            add(chain, ll.llama_sampler_init_typical(1.0, 1))
            add(chain, ll.llama_sampler_init_top_p(s.top_p, 1))
            add(chain, ll.llama_sampler_init_min_p(s.min_p, 1))
            add(chain, ll.llama_sampler_init_temp(s.temperature))
            add(chain, ll.llama_sampler_init_dist(seed))
        return chain

    def _step(self) -> None:
        """One decode: every generating sequence's last token, then prompt chunks of the
        starting ones as far as the batch holds; then each sequence samples its next."""
        ll, batch = self._ll, self._batch
        n = 0
        active = [s for s in self._slots if s is not None and not s.aborted]

        def add(seq: _Seq, token: int, logits: bool) -> None:
            nonlocal n
            batch.token[n] = token
            batch.pos[n] = len(seq.tokens)
            batch.n_seq_id[n] = 1
            batch.seq_id[n][0] = seq.slot
            batch.logits[n] = logits
            seq.tokens.append(token)
            if logits:
                seq.index = n
            n += 1

        for seq in active:
            seq.index = -1
            if seq.fed == len(seq.prompt) and seq.produced:  # generating: its last token
                add(seq, seq.last, True)
        for seq in active:
            if seq.fed < len(seq.prompt) and n < N_BATCH:
                chunk = seq.prompt[seq.fed : seq.fed + N_BATCH - n]
                for i, token in enumerate(chunk):
                    add(seq, token, seq.fed + i == len(seq.prompt) - 1)
                seq.fed += len(chunk)
        if n == 0:
            return
        batch.n_tokens = n
        status = ll.llama_decode(self._ctx.ctx, batch)
        self.steps += 1
        if status != 0:
            raise RunFailed(f"the embedded model could not decode (llama_decode {status})")
        for seq in active:
            if seq.index < 0:
                continue
            token = ll.llama_sampler_sample(seq.sampler, self._ctx.ctx, seq.index)
            if ll.llama_vocab_is_eog(self._vocab, token):
                self._finish(seq.slot, None)
                continue
            seq.last = token
            seq.produced += 1
            size = ll.llama_token_to_piece(self._vocab, token, self._piece, 64, 0, False)
            text = seq.decoder.decode(self._piece.raw[: max(0, size)])
            if self._say(seq, text):
                self._finish(seq.slot, None)
            elif seq.produced == seq.sampling.max_tokens or len(seq.tokens) + 1 >= self.n_ctx:
                self._say(seq, seq.decoder.decode(b"", final=True), final=True)
                self._finish(seq.slot, None)

    def _say(self, seq: _Seq, text: str, final: bool = False) -> bool:
        """Send what cannot begin a stop string; whether a stop string was met."""
        if not seq.stops:
            if text:
                seq.emit(text)
            return False
        held = seq.held + text
        for stop in seq.stops:
            at = held.find(stop)
            if at >= 0:
                if at:
                    seq.emit(held[:at])
                seq.held = ""
                return True
        keep = 0 if final else max(_overlap(held, stop) for stop in seq.stops)
        if len(held) > keep:
            seq.emit(held[: len(held) - keep])
        seq.held = held[len(held) - keep :] if keep else ""
        return False

    def _finish(self, slot: int, error: BaseException | None) -> None:
        seq = self._slots[slot]
        if seq is None:
            return
        self._slots[slot] = None
        self._held[slot] = seq.tokens
        if error is not None:  # what its memory holds is not known: none of it is kept
            self._held[slot] = []
            self._ll.llama_memory_seq_rm(self._memory, slot, -1, -1)
        if seq.sampler is not None:
            self._ll.llama_sampler_free(seq.sampler)
            seq.sampler = None
        if not seq.aborted:
            if error is None and seq.held:
                seq.emit(seq.held)
            seq.emit(error if error is not None else _DONE)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify()


_ADMITTED = object()


def _deliver(items: asyncio.Queue[Any], admitted: asyncio.Event, item: Any) -> None:
    if item is _ADMITTED:
        admitted.set()
    else:
        items.put_nowait(item)


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _overlap(text: str, stop: str) -> int:
    """How many of the text's last characters begin ``stop``."""
    for k in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:k]):
            return k
    return 0
