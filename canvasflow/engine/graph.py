"""A canvas's flowData (Flowise's shape) parsed into a validated graph of nodes."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from graphlib import CycleError, TopologicalSorter
from typing import Any

import orjson

from canvasflow.engine.catalog import (
    explain_unknown,
    flowise_interface,
    known_input_names,
    words,
)
from canvasflow.engine.chatflow import (
    DEFAULT_OVERRIDES,
    REFERENCE,
    Graph,
    NodeSpec,
    _references,
    allowed_overrides,
    instantiate,
    resolve,
)
from canvasflow.errors import CanvasInvalid
from canvasflow.runtime.graphs import CanvasGraph, kind_of
from canvasflow.runtime.node import REGISTRY, Input, Node, load_all
from canvasflow.runtime.problems import Problem, refuse

__all__ = [
    "DEFAULT_OVERRIDES",
    "REFERENCE",
    "CanvasGraph",
    "Graph",
    "NodeSpec",
    "Problem",
    "allowed_overrides",
    "check",
    "instantiate",
    "load_flow_data",
    "parse",
    "read_nodes",
    "refuse",
    "resolve",
]

IGNORED_NODES = frozenset({"stickyNote"})


def load_flow_data(flow_data: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(flow_data, str):
        try:
            flow_data = orjson.loads(flow_data)
        except orjson.JSONDecodeError as exc:
            raise CanvasInvalid(f"flowData is not valid JSON: {exc}") from None
    if not isinstance(flow_data, dict):
        raise CanvasInvalid("flowData must be an object with nodes and edges")
    return flow_data


def _missing(value: Any) -> bool:
    return value is None or value == "" or value == []


def read_nodes(
    raw_nodes: list[Any],
    problems: list[Problem],
    ignored: frozenset[str],
    accepts: Callable[[type[Node]], bool] = lambda cls: True,
) -> Iterator[tuple[dict[str, Any], str, str, type[Node] | None, dict[str, Any]]]:
    """Each node of flowData (a chatflow's or an agentflow's) with its id, name, class
    and inputs; the class is None, its problem noted, for a node canvasflow lacks (or
    that ``accepts`` refuses). What is not a node, an ignored node (sticky notes) and a
    second node with the same id are noted or left out."""
    seen: set[str] = set()
    for raw in raw_nodes:
        if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
            problems.append(Problem("every node needs an id and a data object", kind="structure"))
            continue
        node_id = str(raw.get("id") or raw["data"].get("id") or "")
        name = raw["data"].get("name")
        if not node_id or not isinstance(name, str):
            problems.append(Problem("every node needs an id and data.name", kind="structure"))
            continue
        if name in ignored:
            continue
        cls = REGISTRY.get(name)
        if cls is None or not accepts(cls):
            problems.append(Problem(explain_unknown(node_id, name), node_id))
            yield raw, node_id, name, None, {}
            continue
        if node_id in seen:
            problems.append(Problem(f"node {node_id}: duplicate node id", node_id))
            continue
        seen.add(node_id)
        inputs = raw["data"].get("inputs") or {}
        if not isinstance(inputs, dict):
            problems.append(
                Problem(f"node {node_id} ({name}): data.inputs must be an object", node_id)
            )
            inputs = {}
        cls = cls.instead(inputs) or cls  # another node of the same name
        yield raw, node_id, name, cls, dict(inputs)


def parse(flow_data: str | dict[str, Any]) -> CanvasGraph:
    """Parse and validate flowData. Raises :class:`CanvasInvalid` naming every error."""
    graph, problems = check(flow_data)
    if graph is None or any(p.level == "error" for p in problems):
        raise refuse(problems)
    return graph


def check(flow_data: str | dict[str, Any]) -> tuple[CanvasGraph | None, list[Problem]]:
    """Every problem of a canvas at once (a draft may have many), and its graph when it
    can run."""
    load_all()
    try:
        data = load_flow_data(flow_data)
    except CanvasInvalid as exc:
        return None, [Problem(exc.message, kind="structure")]
    raw_nodes = data.get("nodes")
    raw_edges = data.get("edges") or []
    kind = kind_of(data) if isinstance(raw_nodes, list) else None
    if kind is not None:  # a kind registered in the runtime (Agentflow v2)
        return kind.check(data)
    if not isinstance(raw_nodes, list) or not isinstance(raw_edges, list):
        return None, [
            Problem("flowData needs a list of nodes and a list of edges", kind="structure")
        ]
    problems: list[Problem] = []
    nodes: dict[str, NodeSpec] = {}
    unsupported: set[str] = set()
    for raw, node_id, name, cls, inputs in read_nodes(raw_nodes, problems, IGNORED_NODES):
        if cls is None:  # kept as a draft: the studio shows it, a prediction answers 422
            unsupported.add(node_id)
            continue
        credential = raw["data"].get("credential")
        if credential and "credential" not in inputs:
            inputs = {**inputs, "credential": credential}
        label = raw["data"].get("label")
        nodes[node_id] = NodeSpec(
            node_id, name, cls, inputs, label=str(label or getattr(cls, "label", None) or name)
        )
    if not nodes:
        if not unsupported:
            problems.append(Problem("the canvas has no nodes"))
        return None, problems

    has_outgoing: set[str] = set()
    for edge in raw_edges:
        if not isinstance(edge, dict):
            problems.append(Problem("every edge needs a source and a target"))
            continue
        src, dst = edge.get("source"), edge.get("target")
        if src in unsupported or dst in unsupported:
            continue
        if src not in nodes or dst not in nodes:
            missing = src if src not in nodes else dst
            problems.append(Problem(f"edge refers to unknown node {missing!r}", str(missing)))
            continue
        nodes[dst].deps.add(src)
        has_outgoing.add(src)

    for spec in nodes.values():
        for input_name, value in spec.inputs.items():
            for ref in _references(value):
                if ref in unsupported:
                    continue
                if ref not in nodes:
                    problems.append(
                        Problem(
                            f"{shown(spec)}: {_label_of(spec, input_name)} is connected to "
                            f"{ref!r}, which is not on the canvas",
                            spec.id,
                            input_name,
                        )
                    )
                    continue
                spec.deps.add(ref)
                has_outgoing.add(ref)
        problems.extend(_check_inputs(spec, nodes))

    try:
        order = list(
            TopologicalSorter({nid: spec.deps for nid, spec in nodes.items()}).static_order()
        )
    except CycleError as exc:
        cycle = exc.args[1]
        problems.append(Problem(f"the canvas has a cycle through node {cycle[0]}", cycle[0]))
        return None, problems

    endings = [nid for nid in nodes if nid not in has_outgoing]
    runnable = [nid for nid in endings if nodes[nid].cls.ending]
    if unsupported:
        return None, problems  # no graph to run until those nodes are replaced
    if not runnable:
        who = ", ".join(f"{n} ({nodes[n].name})" for n in endings) or "none"
        problems.append(
            Problem(
                f"the canvas has no ending node (a chain or agent with nothing after it); "
                f"unconnected last nodes: {who}",
                endings[0] if endings else None,
            )
        )
        return None, problems
    if len(runnable) > 1:
        problems.append(
            Problem("the canvas has more than one ending node: " + ", ".join(runnable), runnable[1])
        )
        return None, problems
    return Graph(nodes=nodes, order=order, ending=runnable[0]), problems


BOOLEAN_TEXT = frozenset({"true", "false", "1", "0", "yes", "no", "on", "off"})


def _check_value(spec: NodeSpec, inp: Input, value: Any, options: Any) -> str | None:
    """Why a primitive value cannot be used, or None."""
    if _missing(value) or _references(value):
        return None
    kind = inp.type
    if kind == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return f"must be a number, not {value!r}"
        if inp.minimum is not None and number < inp.minimum:
            return f"must be at least {inp.minimum:g}, not {number:g}"
        if inp.maximum is not None and number > inp.maximum:
            return f"must be at most {inp.maximum:g}, not {number:g}"
    elif kind == "boolean":
        if not isinstance(value, bool) and str(value).strip().lower() not in BOOLEAN_TEXT:
            return f"must be true or false, not {value!r}"
    elif kind == "options" and options:
        names = {str(o.get("name")) if isinstance(o, dict) else str(o) for o in options}
        if str(value) not in names:
            return f"must be one of {', '.join(sorted(names))}, not {value!r}"
    elif kind == "json" and isinstance(value, str):
        try:
            orjson.loads(value)
        except orjson.JSONDecodeError:
            return "is not valid JSON"
    return None


def shown(spec: NodeSpec) -> str:
    """A node as the canvas shows it: its label, and its id (under the label)."""
    return f"{spec.label} ({spec.id})"


def _label_of(spec: NodeSpec, name: str, flowise: dict[str, Any] | None = None) -> str:
    """An input as the node's form shows it: its label, quoted."""
    inp = spec.cls.input(name)
    fl = flowise if flowise is not None else {}
    label = (inp.label if inp is not None else None) or fl.get("label") or words(name)
    return f"“{label}”"


def _kind(type_name: str) -> str:
    """A connection's type in words, with its article: ``BaseLanguageModel`` → ``a
    Language Model``, ``Embeddings`` → ``an Embeddings``... (``an`` before a vowel)."""
    kind = words(type_name.removeprefix("Base"))
    return f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}"


def _check_inputs(spec: NodeSpec, nodes: dict[str, NodeSpec]) -> list[Problem]:
    problems: list[Problem] = []
    where = shown(spec)
    for extra in spec.cls.missing_extras():
        problems.append(
            Problem(
                f"{where}: needs canvasflow[{extra}], which this server does not have: "
                f"pip install 'canvasflow[{extra}]', then start it again",
                spec.id,
            )
        )
    fl_inputs = {i["name"]: i for i in flowise_interface().get(spec.name, {}).get("inputs", [])}
    for inp in spec.cls.inputs:
        value = spec.inputs.get(inp.name)
        label = _label_of(spec, inp.name, fl_inputs.get(inp.name))
        if inp.is_anchor:
            refs = [r for r in _references(value) if r in nodes]
            if not refs and _references(value):
                continue  # fed by a node canvasflow lacks: that node's problem says so
            if not refs:
                if not inp.optional:
                    problems.append(
                        Problem(
                            f"{where}: {label} is required: connect {_kind(inp.type)} "
                            f"({inp.type}) to it",
                            spec.id,
                            inp.name,
                        )
                    )
                continue
            for ref in refs:
                bases = nodes[ref].cls.base_classes
                if inp.type not in bases:
                    given = bases[0] if bases else "node"
                    problems.append(
                        Problem(
                            f"{where}: {label} needs {_kind(inp.type)} ({inp.type}), but "
                            f"{shown(nodes[ref])} is {_kind(given)} ({given})",
                            spec.id,
                            inp.name,
                        )
                    )
        elif not inp.optional and _missing(value) and inp.default is None:
            problems.append(Problem(f"{where}: {label} is required", spec.id, inp.name))
        else:
            options = inp.options or fl_inputs.get(inp.name, {}).get("options")
            why = _check_value(spec, inp, value, options)
            if why:
                problems.append(Problem(f"{where}: {label} {why}", spec.id, inp.name))
    for name in spec.cls.required_now(spec.inputs):
        if _missing(spec.inputs.get(name)):
            label = _label_of(spec, name, fl_inputs.get(name))
            problems.append(Problem(f"{where}: {label} is required", spec.id, name))
    known = known_input_names(spec.cls)
    for name in spec.inputs:
        if name not in known:
            close = suggestion(name, known)
            hint = f"; did you mean {close!r}?" if close else ""
            problems.append(
                Problem(f"{where}: unknown input {name!r}{hint}", spec.id, name, level="warning")
            )
    return problems


_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(name)] or [name.lower()]


def suggestion(name: str, known: Any) -> str | None:
    """A known name ``name`` was likely meant to be: close in spelling and in meaning,
    word by word (``temprature`` → ``temperature``, ``maxToken`` → ``maxTokens``), never
    one that only looks alike (``numGqa``, grouped-query attention, is not ``numGpu``)."""
    for candidate in known:
        if candidate.lower() == name.lower():  # only the case differs
            return str(candidate)
    for candidate in difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.75):
        mine, theirs = _words(name), _words(candidate)
        if len(mine) != len(theirs):
            continue
        if all(
            a == b
            or a.startswith(b)
            or b.startswith(a)
            or difflib.SequenceMatcher(None, a, b).ratio() >= 0.75
            for a, b in zip(mine, theirs, strict=True)
        ):
            return candidate
    return None
