"""The Python client, sync (:class:`Flowise`) and async (:class:`AsyncFlowise`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from httpx_sse import aconnect_sse, connect_sse
from tenacity import AsyncRetrying, Retrying

from canvasflow.sdk._base import (
    NO_RETRY,
    STREAM_BREAKS,
    Retry,
    StreamState,
    answer_of,
    default_headers,
    error_from_response,
    parse_event,
    stream_body,
)
from canvasflow.sdk.errors import FlowiseError, StreamError
from canvasflow.sdk.models import PredictionData, StreamEvent

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class _Configured:
    """What the sync and async clients are configured with."""

    base_url: str
    api_key: str | None
    retry: Retry
    resume: bool
    max_resumes: int


def _configure(
    client: _Configured,
    base_url: str,
    api_key: str | None,
    retry: Retry | None,
    resume: bool,
    max_resumes: int,
) -> None:
    """What the sync and async clients are configured with."""
    client.base_url = base_url.rstrip("/")
    client.api_key = api_key
    client.retry = retry if retry is not None else Retry()
    client.resume = resume
    client.max_resumes = max_resumes


class Flowise(_Configured):
    """A canvasflow (or Flowise) server.

    ``create_prediction`` returns the JSON answer, or, when ``streaming`` is set, a
    :class:`PredictionStream` yielding event dicts (``{"event": "token", "data": ...}``).
    Requests are retried (connect errors, 429, 502-504) before a stream starts; a
    stream that drops is re-attached with ``Last-Event-ID`` (``resume=True``)."""

    def __init__(
        self,
        base_url: str = "http://localhost:3000",
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: Retry | None = None,
        resume: bool = True,
        max_resumes: int = 5,
        http_client: httpx.Client | None = None,
    ) -> None:
        _configure(self, base_url, api_key, retry, resume, max_resumes)
        self._own_client = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout, follow_redirects=True)
        self._http.headers.update(default_headers(api_key))

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        if self._own_client:
            self._http.close()

    def __enter__(self) -> Flowise:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}/api/v1/{path}"

    def _send(self, method: str, path: str, *, retry: Retry | None = None, **kw: Any) -> Any:
        for attempt in Retrying(**(retry or self.retry).policy()):
            with attempt:
                response = self._http.request(method, self._url(path), **kw)
                return answer_of(response, response.content)
        raise AssertionError("unreachable")

    def create_prediction(self, data: PredictionData) -> Any:
        if data.streaming:
            return PredictionStream(self, data)
        return self._send("POST", f"prediction/{data.canvasId}", json=data.body())

    def abort(self, canvas_id: str, chat_id: str) -> dict[str, Any]:
        """Stop the generation running for that chat."""
        return self._send("PUT", f"chatmessage/abort/{canvas_id}/{chat_id}", retry=NO_RETRY)

    def is_streaming(self, canvas_id: str) -> bool:
        return bool(self._send("GET", f"chatflows-streaming/{canvas_id}")["isStreaming"])

    def list_canvases(self) -> list[dict[str, Any]]:
        return self._send("GET", "canvases")

    def get_history(self, canvas_id: str, **filters: str) -> list[dict[str, Any]]:
        return self._send("GET", f"chatmessage/{canvas_id}", params=filters)

    # -- streams -----------------------------------------------------------------------

    def _open(self, method: str, path: str, **kw: Any) -> Any:
        """Open an SSE connection, with retries until the server answers 200."""
        for attempt in Retrying(**self.retry.policy()):
            with attempt:
                cm = connect_sse(self._http, method, self._url(path), **kw)
                source = cm.__enter__()
                response = source.response
                if response.status_code < 400:
                    return cm, source
                error = error_from_response(response, response.read())
                cm.__exit__(None, None, None)
                raise error
        raise AssertionError("unreachable")


class PredictionStream:
    """The events of one streamed prediction; iterate for dicts, :meth:`events` for
    :class:`StreamEvent` objects. ``abort()`` stops the generation on the server."""

    def __init__(self, client: Flowise, data: PredictionData) -> None:
        self._client = client
        self._data = data
        self.state = StreamState(canvas_id=str(data.canvasId), chat_id=data.chatId)
        self._cm: Any = None

    @property
    def chat_id(self) -> str | None:
        return self.state.chat_id

    @property
    def chat_message_id(self) -> str | None:
        return self.state.chat_message_id

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for event in self.events():
            yield event.as_dict()

    def events(self) -> Iterator[StreamEvent]:
        client, st = self._client, self.state
        body = stream_body(self._data.body(), client.resume)
        self._cm, source = client._open("POST", f"prediction/{st.canvas_id}", json=body)
        try:
            while True:
                try:
                    for sse in source.iter_sse():
                        event = parse_event(sse.data, sse.id)
                        if event is not None and st.seen(event):
                            yield event
                        if st.ended:
                            return
                except STREAM_BREAKS as exc:
                    broke: Exception | None = exc
                else:
                    broke = None
                if st.ended:
                    return
                self._cm.__exit__(None, None, None)
                self._cm = None
                if not (client.resume and st.chat_message_id) or st.resumes >= client.max_resumes:
                    raise StreamError(f"the stream ended before its end event: {broke or 'closed'}")
                st.resumes += 1
                try:
                    self._cm, source = client._open(
                        "GET",
                        f"prediction/{st.canvas_id}/stream/{st.chat_message_id}",
                        headers={"Last-Event-ID": str(st.last_id)},
                    )
                except FlowiseError as exc:
                    raise StreamError(f"the stream broke and could not be resumed: {exc}") from exc
        finally:
            self.close()

    def abort(self) -> dict[str, Any]:
        if not self.state.chat_id:
            raise FlowiseError("the stream has not started yet: no chat id to abort")
        return self._client.abort(self.state.canvas_id, self.state.chat_id)

    def close(self) -> None:
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
            self._cm = None

    def __enter__(self) -> PredictionStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncFlowise(_Configured):
    """The async twin of :class:`Flowise`: ``await create_prediction(...)`` returns the
    answer, or an :class:`AsyncPredictionStream` to use with ``async for``."""

    def __init__(
        self,
        base_url: str = "http://localhost:3000",
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: Retry | None = None,
        resume: bool = True,
        max_resumes: int = 5,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        _configure(self, base_url, api_key, retry, resume, max_resumes)
        self._own_client = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout, follow_redirects=True)
        self._http.headers.update(default_headers(api_key))

    async def close(self) -> None:
        if self._own_client:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncFlowise:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _url(self, path: str) -> str:
        return f"{self.base_url}/api/v1/{path}"

    async def _send(self, method: str, path: str, *, retry: Retry | None = None, **kw: Any) -> Any:
        async for attempt in AsyncRetrying(**(retry or self.retry).policy()):
            with attempt:
                response = await self._http.request(method, self._url(path), **kw)
                return answer_of(response, response.content)
        raise AssertionError("unreachable")

    async def create_prediction(self, data: PredictionData) -> Any:
        if data.streaming:
            return AsyncPredictionStream(self, data)
        return await self._send("POST", f"prediction/{data.canvasId}", json=data.body())

    async def abort(self, canvas_id: str, chat_id: str) -> dict[str, Any]:
        return await self._send("PUT", f"chatmessage/abort/{canvas_id}/{chat_id}", retry=NO_RETRY)

    async def is_streaming(self, canvas_id: str) -> bool:
        return bool((await self._send("GET", f"chatflows-streaming/{canvas_id}"))["isStreaming"])

    async def list_canvases(self) -> list[dict[str, Any]]:
        return await self._send("GET", "canvases")

    async def get_history(self, canvas_id: str, **filters: str) -> list[dict[str, Any]]:
        return await self._send("GET", f"chatmessage/{canvas_id}", params=filters)

    async def _open(self, method: str, path: str, **kw: Any) -> Any:
        async for attempt in AsyncRetrying(**self.retry.policy()):
            with attempt:
                cm = aconnect_sse(self._http, method, self._url(path), **kw)
                source = await cm.__aenter__()
                response = source.response
                if response.status_code < 400:
                    return cm, source
                error = error_from_response(response, await response.aread())
                await cm.__aexit__(None, None, None)
                raise error
        raise AssertionError("unreachable")


class AsyncPredictionStream:
    def __init__(self, client: AsyncFlowise, data: PredictionData) -> None:
        self._client = client
        self._data = data
        self.state = StreamState(canvas_id=str(data.canvasId), chat_id=data.chatId)
        self._cm: Any = None

    @property
    def chat_id(self) -> str | None:
        return self.state.chat_id

    @property
    def chat_message_id(self) -> str | None:
        return self.state.chat_message_id

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async for event in self.events():
            yield event.as_dict()

    async def events(self) -> AsyncIterator[StreamEvent]:
        client, st = self._client, self.state
        body = stream_body(self._data.body(), client.resume)
        self._cm, source = await client._open("POST", f"prediction/{st.canvas_id}", json=body)
        try:
            while True:
                try:
                    async for sse in source.aiter_sse():
                        event = parse_event(sse.data, sse.id)
                        if event is not None and st.seen(event):
                            yield event
                        if st.ended:
                            return
                except STREAM_BREAKS as exc:
                    broke: Exception | None = exc
                else:
                    broke = None
                if st.ended:
                    return
                await self._cm.__aexit__(None, None, None)
                self._cm = None
                if not (client.resume and st.chat_message_id) or st.resumes >= client.max_resumes:
                    raise StreamError(f"the stream ended before its end event: {broke or 'closed'}")
                st.resumes += 1
                try:
                    self._cm, source = await client._open(
                        "GET",
                        f"prediction/{st.canvas_id}/stream/{st.chat_message_id}",
                        headers={"Last-Event-ID": str(st.last_id)},
                    )
                except FlowiseError as exc:
                    raise StreamError(f"the stream broke and could not be resumed: {exc}") from exc
        finally:
            await self.aclose()

    async def abort(self) -> dict[str, Any]:
        if not self.state.chat_id:
            raise FlowiseError("the stream has not started yet: no chat id to abort")
        return await self._client.abort(self.state.canvas_id, self.state.chat_id)

    async def aclose(self) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            await cm.__aexit__(None, None, None)
