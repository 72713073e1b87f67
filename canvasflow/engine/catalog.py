"""The node catalogue: every registered node described in Flowise's node-descriptor
shape (what ``GET /api/v1/nodes`` answers and the studio draws), generated from the node
classes themselves. Labels, options and the like that a class leaves out come from
Flowise 3.1.2's interface of the same node (shipped as data); every input gets a
one-line description. Also explains Flowise nodes canvasflow does not have."""

from __future__ import annotations

import difflib
import hashlib
import re
from typing import Any

from canvasflow.runtime.node import REGISTRY, Input, Node, flowise_interface, load_all

# one-line descriptions of inputs that many nodes share
DESCRIPTIONS: dict[str, str] = {
    "modelName": "Which model to call, as the provider names it",
    "temperature": "Randomness of the answer: 0 is focused, higher is more varied",
    "maxTokens": "Most tokens the model may write in one answer",
    "maxOutputTokens": "Most tokens the model may write in one answer",
    "maxTokensToSample": "Most tokens the model may write in one answer",
    "topP": "Nucleus sampling: only the most likely tokens up to this probability",
    "topK": "Sample only among this many most likely tokens",
    "frequencyPenalty": "Lowers the chance of repeating the same words",
    "presencePenalty": "Raises the chance of new topics",
    "repeatPenalty": "Penalty for repeated tokens (1 is none)",
    "streaming": "Stream the answer token by token",
    "timeout": "Milliseconds to wait for the model before giving up",
    "stopSequence": "Comma-separated texts that end the answer",
    "stop": "Comma-separated texts that end the answer",
    "basepath": "The API's base URL, for an OpenAI-compatible server (needs its own credential)",
    "basePath": "The API's base URL (or a folder name for stores that keep files)",
    "baseUrl": "The server's base URL",
    "baseOptions": "Extra options sent with every request, as JSON",
    "credential": "The stored credential (API key) this node uses",
    "cache": "A cache for model answers",
    "seed": "A fixed seed makes answers repeatable",
    "modelPath": "A GGUF model file to load instead of the embedded one",
    "template": "The prompt text; {question} and other {placeholders} are filled in",
    "promptValues": "Values for the prompt's placeholders, as JSON",
    "systemMessagePrompt": "What the system tells the model before the conversation",
    "systemMessage": "What the system tells the model before the conversation",
    "humanMessagePrompt": "The user's turn; {question} is filled in",
    "sessionId": "Keep this memory under a fixed session instead of the chat's",
    "memoryKey": "The name the history has in the prompt",
    "k": "How many items to keep or return",
    "topk": "How many documents to return",
    "topK_retriever": "How many documents to return",
    "chunkSize": "Most characters (or tokens) per chunk",
    "chunkOverlap": "Characters (or tokens) two chunks share",
    "separator": "Where to split the text",
    "separators": "Where to split the text, in order of preference",
    "text": "The text itself",
    "metadata": "Metadata added to every document, as JSON",
    "omitMetadataKeys": "Comma-separated metadata keys to leave out",
    "textSplitter": "Split the documents into chunks with this splitter",
    "document": "The documents to index",
    "embeddings": "The embeddings model that turns text into vectors",
    "model": "The chat model that answers",
    "memory": "The memory that keeps the conversation",
    "prompt": "The prompt template",
    "chatPromptTemplate": "A chat prompt template for the conversation",
    "vectorStoreRetriever": "The retriever that finds the documents to answer from",
    "outputParser": "Parses the answer into a structured value",
    "inputModeration": "Checks run on the question before the model sees it",
    "tools": "The tools the agent may call",
    "maxIterations": "Most tool calls before the agent stops",
    "returnSourceDocuments": "Return the documents the answer is based on",
    "returnDirect": "Return the tool's output as the answer",
    "chainName": "A name for this chain",
    "collection": "The document store collection (one name per set of documents)",
    "folderPath": "A folder under the server's files folder",
    "recursive": "Also read the folders inside it",
    "denyList": "Comma-separated phrases that refuse a question",
    "moderationErrorMessage": "What the user sees when a question is refused",
    "customToolName": "The tool's name, as the model sees it",
    "customToolDesc": "What the tool does, as the model reads it",
    "customToolSchema": "The tool's arguments: a JSON schema or Flowise's property list",
    "customToolFunc": "The tool's code: a JavaScript function body that returns the result",
    "language": "javascript (a V8 sandbox), or python when the operator allows it",
}

CATEGORY_COLOURS = {
    "Chat Models": "#6d28d9",
    "Chains": "#0f766e",
    "Memory": "#b45309",
    "Prompts": "#1d4ed8",
    "Document Loaders": "#047857",
    "Text Splitters": "#4d7c0f",
    "Embeddings": "#be185d",
    "Vector Stores": "#7c2d12",
    "Retrievers": "#0e7490",
    "Tools": "#a16207",
    "Agents": "#b91c1c",
    "Moderation": "#475569",
    "Output Parsers": "#4338ca",
    "Agent Flows": "#9333ea",
}


def flowise_nodes() -> dict[str, dict[str, Any]]:
    return flowise_interface()


def words(name: str) -> str:
    """``chunkOverlap`` → ``Chunk Overlap``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ")
    return spaced[:1].upper() + spaced[1:]


# what a field takes, said in words where neither canvasflow nor Flowise describes it
TYPE_WORDS = {
    "string": "Text",
    "asyncOptions": "Pick one from the list",
    "options": "Pick one",
    "multiOptions": "Pick any of them",
    "number": "A number",
    "boolean": "On or off",
    "json": "JSON",
    "code": "Code, run in the sandbox",
    "password": "A secret: never shown again once saved",
    "file": "A file to upload",
    "array": "Add as many rows as needed",
    "datagrid": "Add as many rows as needed",
}


def describe_input(inp: Input, flowise: dict[str, Any] | None) -> dict[str, Any]:
    fl = flowise or {}
    label = inp.label or fl.get("label") or words(inp.name)
    if inp.description:
        description = inp.description
    elif inp.name in DESCRIPTIONS:
        description = DESCRIPTIONS[inp.name]
    elif inp.is_anchor:
        description = f"Connect a node that gives a {inp.type}"
    elif fl.get("description"):
        description = " ".join(str(fl["description"]).split())  # on one line
    else:
        description = TYPE_WORDS.get(inp.type, label)
    options = inp.options if inp.options is not None else fl.get("options")
    out: dict[str, Any] = {
        "name": inp.name,
        "label": label,
        "type": inp.type,
        "description": description,
        "optional": inp.optional,
        "list": inp.list or bool(fl.get("list")),
        "additionalParams": inp.additional
        if inp.additional is not None
        else bool(fl.get("additionalParams")),
    }
    if inp.default is not None:
        out["default"] = inp.default
    elif "default" in fl:
        out["default"] = fl["default"]
    if inp.array is not None:
        out["array"] = [describe_input(field, None) for field in inp.array]
    if options is not None:
        out["options"] = [
            o if isinstance(o, dict) else {"label": words(str(o)), "name": str(o)} for o in options
        ]
    for key, value in (
        ("placeholder", inp.placeholder or fl.get("placeholder")),
        ("rows", inp.rows or fl.get("rows")),
        ("step", fl.get("step")),
        ("min", inp.minimum),
        ("max", inp.maximum),
        ("acceptVariable", fl.get("acceptVariable") or None),
    ):
        if value is not None:
            out[key] = value
    return out


def describe(cls: type[Node]) -> dict[str, Any]:
    """One node in Flowise's descriptor shape."""
    fl = flowise_interface().get(cls.name, {})
    fl_inputs = {i["name"]: i for i in fl.get("inputs", [])}
    fl_cred = fl.get("credential")
    inputs = []
    credential = None
    for inp in cls.inputs:
        if inp.type == "credential":
            credential = {
                "name": inp.name,
                "label": (fl_cred or {}).get("label", "Connect Credential"),
                "type": "credential",
                "credentialNames": (fl_cred or {}).get("credentialNames", []),
                "description": DESCRIPTIONS["credential"],
                "optional": True,
            }
            continue
        inputs.append(describe_input(inp, fl_inputs.get(inp.name)))
    out: dict[str, Any] = {
        "name": cls.name,
        "label": cls.label,
        "version": fl.get("version", cls.version),
        "type": cls.base_classes[0] if cls.base_classes else cls.name,
        "category": cls.category,
        "description": (
            cls.description or (cls.__doc__ or "").strip().split("\n")[0] or cls.label
        ).replace("``", ""),  # a docstring's literal marks are not for the screen
        "baseClasses": list(cls.base_classes),
        "inputs": inputs,
        "ending": cls.ending,
        "icon": f"/api/v1/node-icon/{cls.name}",
        "flowise": cls.name in flowise_interface(),
    }
    if getattr(cls, "agentflow", False):
        out["agentflow"] = True
    missing = cls.missing_extras()
    if missing:  # this installation cannot run it: what to install
        out["needs"] = [f"canvasflow[{extra}]" for extra in missing]
    if credential is not None:
        out["credential"] = credential
    if fl.get("outputs"):
        out["outputs"] = fl["outputs"]
    return out


def catalogue() -> list[dict[str, Any]]:
    load_all()
    return [describe(REGISTRY[name]) for name in sorted(REGISTRY)]


def known_input_names(cls: type[Node]) -> frozenset[str]:
    """Input names a canvas may hold for a node: its own and Flowise's for that node
    (an export carries inputs canvasflow does not use; a typo is neither)."""
    fl = flowise_interface().get(cls.name, {})
    names = {i.name for i in cls.inputs} | {i["name"] for i in fl.get("inputs", [])}
    if fl.get("credential"):
        names.add(fl["credential"]["name"])
    return frozenset(names)


def icon_svg(name: str) -> str:
    """A node's icon: its category's colour and the node's initials."""
    load_all()
    cls = REGISTRY.get(name)
    category = cls.category if cls else "Other"
    colour = CATEGORY_COLOURS.get(category)
    if colour is None:
        colour = "#" + hashlib.sha256(category.encode()).hexdigest()[:6]
    label = cls.label if cls else name
    initials = "".join(w[0] for w in re.findall(r"[A-Za-z0-9]+", label)[:2]).upper() or "?"
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="32" height="32">'
        f'<rect width="32" height="32" rx="8" fill="{colour}"/>'
        '<text x="16" y="21" font-family="sans-serif" font-size="13" font-weight="700" '
        f'text-anchor="middle" fill="#fff">{initials}</text></svg>'
    )


# -- nodes canvasflow does not have -----------------------------------------------------


# where a provider canvasflow lacks is most often reachable another way: most chat and
# completion APIs are OpenAI-compatible
KIND_FALLBACK = {
    "Chat Models": "chatOpenAICustom",
    "LLMs": "chatOpenAICustom",
    "Embeddings": "openAIEmbeddings",
}
GENERIC_BASES = frozenset({"Runnable", "Tool", "StructuredTool", "BaseChain"})


def closest_supported(
    name: str, category: str | None, bases: tuple[str, ...] | list[str] = ()
) -> str | None:
    """The supported node most like an unsupported one: of the same category (else
    sharing a specific base class), sharing the most base classes, then the most
    similar name; a category's usual stand-in when no name is close; None when
    canvasflow has nothing of that kind."""
    load_all()
    family = category or ""
    pool = [n for n, cls in REGISTRY.items() if family and cls.category == family]
    wanted = set(bases) - GENERIC_BASES
    if not pool and wanted:
        pool = [n for n, cls in REGISTRY.items() if wanted & set(cls.base_classes)]
    if not pool:
        return None

    def score(candidate: str) -> tuple[int, float]:
        shared = len(wanted & set(REGISTRY[candidate].base_classes))
        close = difflib.SequenceMatcher(None, name.lower(), candidate.lower()).ratio()
        return shared, close

    best = max(pool, key=score)
    fallback = KIND_FALLBACK.get(family)
    if fallback in REGISTRY and score(best)[1] < 0.75:
        return fallback
    return best


def explain_unknown(node_id: str, name: str) -> str:
    info = flowise_nodes().get(name)
    if info is None:
        closest = closest_supported(name, None)
        hint = f"; did you mean {closest!r}?" if closest else ""
        return f"node {node_id}: unknown node {name!r}{hint}"
    category = info.get("category") or "Unknown"
    closest = closest_supported(name, category, info.get("baseClasses") or ())
    hint = (
        f"; the closest supported node is {closest!r}"
        if closest
        else "; canvasflow has no node of this kind yet"
    )
    return (
        f"node {node_id}: Flowise node {name!r} ({info.get('label') or name}, category "
        f"{category}) is not supported by canvasflow{hint}"
    )
