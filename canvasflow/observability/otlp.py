"""Finished spans as an OTLP/HTTP request body (``ExportTraceServiceRequest`` in protobuf,
the encoding every collector takes; Phoenix takes no other), written straight to bytes.

OpenTelemetry's own encoder builds a protobuf object per span, attribute and value
(85 µs a span of nine attributes here, in the server's process); this writes the same
message, field for field, in a fraction of that (``bench``: scenario k), so a traced
server keeps its throughput. ``tests/test_analytic.py`` parses what this writes with the
official message classes and compares it with OpenTelemetry's encoder's."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from random import getrandbits
from typing import Any

_PACK_D = struct.Struct("<d").pack
_PACK_Q = struct.Struct("<Q").pack
_PACK_I = struct.Struct("<I").pack


def _varint(n: int) -> bytes:
    if n < 0:  # int64: two's complement on ten bytes
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [_varint(i) for i in range(1 << 14)]


def _len(n: int) -> bytes:
    return _SMALL[n] if n < 16384 else _varint(n)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (``tag`` is its number)."""
    return _SMALL[(tag << 3) | 2] + _len(len(payload)) + payload


def _string(tag: int, text: str) -> bytes:
    return _field(tag, text.encode()) if text else b""


def _value(value: Any) -> bytes:
    """An ``AnyValue``."""
    kind = type(value)
    if kind is str:
        raw = value.encode()
        return b"\x0a" + _len(len(raw)) + raw
    if kind is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if kind is int:
        return b"\x18" + _varint(value)
    if kind is float:
        return b"\x21" + _PACK_D(value)
    if kind is bytes:
        return _field(7, value)
    if isinstance(value, Sequence):  # an array (the SDK keeps them as tuples)
        return _field(5, b"".join(_field(1, _value(v)) for v in value))
    raw = str(value).encode()
    return b"\x0a" + _len(len(raw)) + raw


# a key's encoded ``KeyValue.key`` field with the tag of its value field after it
_KEYS: dict[str, bytes] = {}
# whole ``KeyValue`` fields (tag, length and pair) of values that repeat: short strings
# (kinds, names, models, statuses) and small numbers (counts, milliseconds), by (field
# tag, key, value)
_PAIRS: dict[tuple[int, str, Any], bytes] = {}


def _key(key: str) -> bytes:
    if len(_KEYS) > 50_000:
        _KEYS.clear()
    raw = key.encode()
    encoded = _KEYS[key] = b"\x0a" + _len(len(raw)) + raw + b"\x12"
    return encoded


def _attributes(tag: int, attributes: Any) -> bytes:
    """Repeated ``KeyValue`` fields: the hot loop of a trace's encoding, so strings and
    small numbers are written inline, not through :func:`_value`."""
    if not attributes:
        return b""
    out: list[bytes] = []
    append = out.append
    head = _SMALL[(tag << 3) | 2]
    small = _SMALL
    pairs = _PAIRS
    keys = _KEYS
    # the SDK's BoundedAttributes: its plain dict (iterating the mapping itself takes a
    # lock and two Python calls per item, most of an encoding's time)
    plain = getattr(attributes, "_dict", attributes)
    for key, value in plain.items():
        kind = type(value)
        # (ids and texts differ each time: caching them would only fill the cache and
        # push the rest of the server out of the CPU's)
        if kind is str:
            cached = len(value) <= 32
            if cached:
                whole = pairs.get((tag, key, value))
                if whole is not None:
                    append(whole)
                    continue
            raw = value.encode()
            n = len(raw)
            v = b"\x0a" + (small[n] if n < 16384 else _varint(n)) + raw
        elif kind is int and 0 <= value < 4096:
            whole = pairs.get((tag, key, value))
            if whole is not None:
                append(whole)
                continue
            cached = True
            v = b"\x18" + small[value]
        else:
            cached = False
            v = _value(value)
        k = keys.get(key) or _key(key)
        size = len(v)
        body = k + (small[size] if size < 16384 else _varint(size)) + v
        size = len(body)
        whole = head + (small[size] if size < 16384 else _varint(size)) + body
        append(whole)
        if cached:
            if len(pairs) > 50_000:
                pairs.clear()
            pairs[tag, key, value] = whole
    return b"".join(out)


def _span(span: Any) -> bytes:
    ctx = span.context
    parts = [
        b"\x0a\x10" + ctx.trace_id.to_bytes(16, "big"),
        b"\x12\x08" + ctx.span_id.to_bytes(8, "big"),
    ]
    state = ctx.trace_state
    if state:
        parts.append(_string(3, ",".join(f"{k}={v}" for k, v in state.items())))
    parent = span.parent
    if parent is not None:
        parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
    parts.append(_string(5, span.name))
    parts.append(b"\x30" + _SMALL[span.kind.value + 1])
    parts.append(b"\x39" + _PACK_Q(span.start_time or 0))
    parts.append(b"\x41" + _PACK_Q(span.end_time or 0))
    parts.append(_attributes(9, span.attributes))
    if span.dropped_attributes:
        parts.append(b"\x50" + _varint(span.dropped_attributes))
    for event in span.events:
        body = b"\x09" + _PACK_Q(event.timestamp) + _string(2, event.name)
        body += _attributes(3, event.attributes)
        parts.append(_field(11, body))
    if span.dropped_events:
        parts.append(b"\x60" + _varint(span.dropped_events))
    for link in span.links:
        body = b"\x0a\x10" + link.context.trace_id.to_bytes(16, "big")
        body += b"\x12\x08" + link.context.span_id.to_bytes(8, "big")
        body += _attributes(4, link.attributes)
        body += b"\x35" + _PACK_I(_flags(link.context))
        parts.append(_field(13, body))
    if span.dropped_links:
        parts.append(b"\x70" + _varint(span.dropped_links))
    status = span.status
    if status is not None:
        body = _string(2, status.description or "")
        if status.status_code.value:
            body += b"\x18" + _SMALL[status.status_code.value]
        parts.append(_field(15, body))
    parts.append(b"\x85\x01" + _PACK_I(_flags(parent)))
    return b"".join(parts)


def _flags(parent: Any) -> int:
    # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, and IS_REMOTE when it is
    return 0x100 | (0x200 if parent is not None and parent.is_remote else 0)


def _scope(scope: Any) -> bytes:
    if scope is None:
        return b""
    body = _string(1, scope.name) + _string(2, scope.version or "")
    body += _attributes(3, getattr(scope, "attributes", None))
    return _field(1, body)


def encode(spans: Sequence[Any]) -> bytes:
    """An ``ExportTraceServiceRequest`` of these spans (the SDK's ``ReadableSpan``s),
    grouped by resource, then by instrumentation scope, in the order they came (by
    identity: a resource's own hash writes it as JSON each time)."""
    resources: dict[int, Any] = {}
    grouped: dict[int, dict[Any, list[bytes]]] = {}
    for span in spans:
        resource = span.resource
        key = id(resource)
        if key not in grouped:
            resources[key], grouped[key] = resource, {}
        by_scope = grouped[key]
        by_scope.setdefault(span.instrumentation_scope or None, []).append(_field(2, _span(span)))
    out = []
    for key, scopes in grouped.items():
        resource = resources[key]
        body = _field(1, _attributes(1, resource.attributes))
        for scope, encoded in scopes.items():
            scope_body = _scope(scope) + b"".join(encoded)
            scope_body += _string(3, scope.schema_url if scope is not None else "")
            body += _field(2, scope_body)
        body += _string(3, resource.schema_url or "")
        out.append(_field(1, body))
    return b"".join(out)


# -- noted traces (tracing.Pending), written from what the prediction noted ---------


def flat_spans(trace: tuple[int, Sequence[Sequence[Any]]]) -> bytes:
    """A noted trace's spans (as :func:`canvasflow.observability.tracing.read_flat` read
    it: its id, then each span's name, start, end, attributes, parent's index, error and
    status, parents before children) as ``ScopeSpans.spans`` fields, whatever resource
    they go under: each span with new random ids (128 and 64 bits, as the SDK draws
    them), kind INTERNAL, its parent's id, its error as the SDK records an exception;
    the trace's id is the one noted when there is one (a sampler decided on it)."""
    trace_id, spans = trace
    tid = b"\x0a\x10" + (trace_id or getrandbits(128) or 1).to_bytes(16, "big")
    ids: list[bytes] = []
    out: list[bytes] = []
    for name, start, end, attributes, parent, error, status, *_ in spans:
        span_id = (getrandbits(64) or 1).to_bytes(8, "big")
        ids.append(span_id)
        head = _NAMES.get(name)
        if head is None:  # the span's name with SPAN_KIND_INTERNAL after it
            if len(_NAMES) > 10_000:
                _NAMES.clear()
            head = _NAMES[name] = _string(5, name) + b"\x30\x01"
        parts = [
            tid,
            b"\x12\x08",
            span_id,
            b"\x22\x08" + ids[parent] if parent >= 0 else b"",
            head,
            b"\x39" + _PACK_Q(start) + b"\x41" + _PACK_Q(end),
            _attributes(9, attributes),
        ]
        if error is not None:  # as the SDK records an exception: an event, an ERROR status
            kind, message = error
            event = {"exception.type": kind, "exception.message": message}
            body = b"\x09" + _PACK_Q(end) + _string(2, "exception") + _attributes(3, event)
            parts.append(_field(11, body))
            parts.append(_field(15, _string(2, f"{kind}: {message}") + b"\x18\x02"))
        elif status is not None:
            code, description = status
            body = _string(2, description)
            if code:
                body += b"\x18" + _SMALL[code]
            parts.append(_field(15, body))
        else:
            parts.append(b"\x7a\x00")  # an UNSET status, as the SDK writes it
        parts.append(_FLAGS)
        out.append(_field(2, b"".join(parts)))
    return b"".join(out)


def heads(resource: Any, scope: Any) -> tuple[bytes, bytes, bytes, bytes]:
    """What goes around spans sent under ``resource`` and ``scope``: the resource's
    attributes, its schema URL, the scope, its schema URL (:func:`wrap`)."""
    return (
        _resource_head(resource),
        _string(3, resource.schema_url or ""),
        _scope(scope),
        _string(3, scope.schema_url if scope else ""),
    )


def wrap(spans: bytes, heads: tuple[bytes, bytes, bytes, bytes]) -> bytes:
    """Spans written by :func:`flat_spans` as one ``ResourceSpans`` of one scope, with
    what :func:`heads` wrote around them."""
    resource_head, resource_tail, scope_head, scope_tail = heads
    body = _field(2, scope_head + spans + scope_tail)
    return _field(1, resource_head + body + resource_tail)


_HEADS: dict[int, tuple[Any, bytes]] = {}


def _resource_head(resource: Any) -> bytes:
    """A resource's encoded attributes, once per resource."""
    got = _HEADS.get(id(resource))
    if got is None or got[0] is not resource:
        if len(_HEADS) > 1000:
            _HEADS.clear()
        got = _HEADS[id(resource)] = (resource, _field(1, _attributes(1, resource.attributes)))
    return got[1]


_FLAGS = b"\x85\x01" + _PACK_I(0x100)  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK: not remote


_NAMES: dict[str, bytes] = {}
