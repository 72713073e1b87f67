"""Retrieval and tool nodes against the mock upstream's chat and embeddings endpoints."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support import Proc, custom_tool_flow, edge, make_canvas, node, ref, sse_events

TEXT = (
    "Paris is the capital of France.\n\n"
    "Berlin is the capital of Germany.\n\n"
    "Rome is the capital of Italy."
)


def rag_flow(chain: str = "retrievalQAChain", **chain_inputs: object) -> dict:
    nodes = [
        node(
            "splitter_0",
            "characterTextSplitter",
            {"chunkSize": 60, "chunkOverlap": 0, "separator": "\n\n"},
        ),
        node(
            "plainText_0",
            "plainText",
            {
                "text": TEXT,
                "textSplitter": ref("splitter_0"),
                "metadata": '{"title": "Capitals", "source": "capitals.txt"}',
            },
        ),
        node("embeddings_0", "openAIEmbeddings", {"modelName": "mock-embed"}),
        node(
            "store_0",
            "memoryVectorStore",
            {"document": [ref("plainText_0")], "embeddings": ref("embeddings_0"), "topK": 1},
        ),
        node("chatOpenAI_0", "chatOpenAI", {"modelName": "mock?tokens=3"}),
        node(
            "chain_0",
            chain,
            {"model": ref("chatOpenAI_0"), "vectorStoreRetriever": ref("store_0"), **chain_inputs},
        ),
    ]
    edges = [
        edge("splitter_0", "plainText_0"),
        edge("plainText_0", "store_0"),
        edge("embeddings_0", "store_0"),
        edge("store_0", "chain_0"),
        edge("chatOpenAI_0", "chain_0"),
    ]
    return {"nodes": nodes, "edges": edges}


def agent_flow() -> dict:
    return {
        "nodes": [
            node("calculator_0", "calculator", {}),
            node("mem_0", "bufferMemory", {}),
            node("chatOpenAI_0", "chatOpenAI", {"modelName": "mock"}),
            node(
                "agent_0",
                "toolAgent",
                {
                    "tools": [ref("calculator_0")],
                    "memory": ref("mem_0"),
                    "model": ref("chatOpenAI_0"),
                    "maxIterations": 3,
                },
            ),
        ],
        "edges": [
            edge("calculator_0", "agent_0"),
            edge("mem_0", "agent_0"),
            edge("chatOpenAI_0", "agent_0"),
        ],
    }


def stream(client: httpx.Client, canvas: str, body: dict) -> list[dict]:
    r = client.post(f"/api/v1/prediction/{canvas}", json={**body, "streaming": True})
    assert r.status_code == 200, r.text
    return sse_events(r.content)


def test_rag_sends_the_right_source(server: Proc, client: httpx.Client, upstream: str) -> None:
    canvas = make_canvas(server.url, rag_flow())
    events = stream(
        client,
        canvas["id"],
        {
            "question": "What is the capital of Italy?",
            "overrideConfig": {"returnSourceDocuments": True, "returnIntermediateSteps": True},
        },
    )
    kinds = [e["event"] for e in events]
    assert kinds[:3] == ["start", "step", "source"] and kinds[-2:] == ["metadata", "end"]
    docs = events[2]["data"]
    assert [d["pageContent"] for d in docs] == ["Rome is the capital of Italy."]
    assert docs[0]["metadata"]["title"] == "Capitals"
    assert docs[0]["metadata"]["source"] == "capitals.txt"
    assert events[1]["data"]["type"] == "retriever"
    sent = httpx.get(upstream + "/requests").json()[-1]
    assert "Rome is the capital of Italy." in sent["messages"][0]["content"]
    assert "Paris" not in sent["messages"][0]["content"]
    # not asked for: no source event, and not in the JSON answer either
    events = stream(client, canvas["id"], {"question": "What is the capital of Italy?"})
    assert [e["event"] for e in events].count("source") == 0
    body = client.post(
        f"/api/v1/prediction/{canvas['id']}",
        json={"question": "capital of Germany?", "overrideConfig": {"returnSourceDocuments": True}},
    ).json()
    assert body["sourceDocuments"][0]["pageContent"] == "Berlin is the capital of Germany."
    history = client.get(f"/api/v1/chatmessage/{canvas['id']}").json()
    assert history[-1]["sourceDocuments"][0]["pageContent"].startswith("Berlin")


def test_conversational_rag_rephrases_with_history(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    flow = rag_flow("conversationalRetrievalQAChain", returnSourceDocuments=True)
    flow["nodes"].append(node("mem_0", "bufferMemory", {}))
    flow["nodes"][-2]["data"]["inputs"]["memory"] = ref("mem_0")
    flow["edges"].append(edge("mem_0", "chain_0"))
    canvas = make_canvas(server.url, flow)
    chat = "crqa-" + server.backend  # type: ignore[attr-defined]
    first = client.post(
        f"/api/v1/prediction/{canvas['id']}",
        json={"question": "Tell me about Italy", "chatId": chat},
    ).json()
    assert first["sourceDocuments"][0]["pageContent"].startswith("Rome")
    events = stream(
        client,
        canvas["id"],
        {
            "question": "And its capital?",
            "chatId": chat,
            "overrideConfig": {"returnIntermediateSteps": True},
        },
    )
    steps = [e["data"] for e in events if e["event"] == "step"]
    assert steps[0]["step"] == "rephrase" and steps[0]["input"] == "And its capital?"
    assert steps[1]["type"] == "retriever"
    requests = httpx.get(upstream + "/requests").json()
    rephrase = next(r for r in reversed(requests) if "follow-up" in str(r.get("messages")).lower())
    assert "Tell me about Italy" in rephrase["messages"][0]["content"]


def test_tool_agent_steps_then_answer(server: Proc, client: httpx.Client) -> None:
    canvas = make_canvas(server.url, agent_flow())
    events = stream(
        client,
        canvas["id"],
        {"question": "calc: 12*7", "overrideConfig": {"returnIntermediateSteps": True}},
    )
    kinds = [e["event"] for e in events]
    assert kinds == ["start", "step", "token", "token", "token", "token", "metadata", "end"]
    assert events[1]["data"] == {
        "step": "calculator",
        "type": "tool",
        "input": {"input": "12*7"},
        "output": "84",
    }
    assert "".join(e["data"] for e in events if e["event"] == "token") == "The answer is 84"
    body = client.post(
        f"/api/v1/prediction/{canvas['id']}", json={"question": "calc: 2**10"}
    ).json()
    assert body["text"] == "The answer is 1024"
    assert body["usedTools"] == [
        {"tool": "calculator", "toolInput": {"input": "2**10"}, "toolOutput": "1024"}
    ]
    # Flowise's clients see usedTools before metadata, as Flowise sends it
    raw = client.post(
        f"/api/v1/prediction/{canvas['id']}",
        json={"question": "calc: 12*7", "streaming": True, "streamFormat": "flowise"},
    ).text
    assert (
        'message:\ndata:{"event":"usedTools","data":[{"tool":"calculator",'
        '"toolInput":{"input":"12*7"},"toolOutput":"84"}]}\n\n'
    ) in raw
    assert raw.index('"usedTools"') < raw.index('"metadata"')


def test_the_same_canvases_imported_from_flowise_json(server: Proc, client: httpx.Client) -> None:
    for flow, question, expected in (
        (rag_flow(), "capital of Italy?", "Rome"),
        (agent_flow(), "calc: 6*7", "42"),
    ):
        export = {"name": "from Flowise", "flowData": json.dumps(flow)}
        r = client.post("/api/v1/canvases/import", json=export)
        assert r.status_code == 201, r.text
        body = client.post(
            f"/api/v1/prediction/{r.json()['id']}",
            json={"question": question, "overrideConfig": {"returnSourceDocuments": True}},
        ).json()
        found = json.dumps(body.get("sourceDocuments")) + body["text"]
        assert expected in found


@pytest.mark.parametrize(
    "name", ["recursiveCharacterTextSplitter", "markdownTextSplitter", "characterTextSplitter"]
)
def test_splitters_keep_chunks_small(name: str) -> None:
    import asyncio

    from canvasflow.nodes import load_all
    from canvasflow.runtime.context import RunContext

    REGISTRY = load_all()

    splitter = asyncio.run(
        REGISTRY[name]("s", {"chunkSize": 40, "chunkOverlap": 5, "separator": " "}).build(
            RunContext("q")
        )
    )
    text = "# Title\n\n" + " ".join(f"word{i}" for i in range(100))
    chunks = splitter.split_text(text)
    assert len(chunks) > 5 and all(len(c) <= 40 for c in chunks)


def test_custom_tool_runs_flowise_javascript(server: Proc, client: httpx.Client) -> None:
    """Flowise's custom tool shape: a function body using $-named arguments, $vars and
    $flow, run in a V8 isolate in a child process."""
    code = "const doubled = $n * 2;\nreturn `${doubled} for ${$flow.chatId} ${typeof process}`;"
    canvas = make_canvas(server.url, custom_tool_flow(code, "double"))
    events = stream(
        client,
        canvas["id"],
        {
            "question": 'tool: double {"n": 21}',
            "chatId": "js-chat",
            "overrideConfig": {"returnIntermediateSteps": True},
        },
    )
    step_ = next(e["data"] for e in events if e["event"] == "step")
    assert step_["input"] == {"n": 21} and step_["output"] == "42 for js-chat undefined"
    assert "".join(e["data"] for e in events if e["event"] == "token").startswith(
        "The answer is 42"
    )


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("while (true) {}", "longer than"),
        ("await null; while (true) {}", "longer than"),  # a runaway microtask too
        ("const a = []; while (true) a.push(new Array(1e6).fill(1));", "memory"),
        ("return require('fs').readFileSync('/etc/passwd', 'utf8');", "not available"),
    ],
)
def test_runaway_custom_tool_is_stopped(
    server: Proc, client: httpx.Client, code: str, why: str
) -> None:
    canvas = make_canvas(server.url, custom_tool_flow(code))
    events = stream(
        client,
        canvas["id"],
        {"question": 'tool: custom {"n": 1}', "overrideConfig": {"returnIntermediateSteps": True}},
    )
    step_ = next(e["data"] for e in events if e["event"] == "step")
    assert why in step_["error"], step_
    assert step_["output"].startswith("error:")
    assert events[-2]["data"]["status"] == "completed"  # the agent went on and answered
    assert client.get("/api/v1/ping").json()["status"] == "ok"  # the server keeps serving


def test_python_tools_are_off_unless_the_operator_allows_them(
    server: Proc, client: httpx.Client
) -> None:
    canvas = make_canvas(server.url, custom_tool_flow("result = 1", language="python"))
    events = stream(
        client,
        canvas["id"],
        {"question": 'tool: custom {"n": 1}', "overrideConfig": {"returnIntermediateSteps": True}},
    )
    step_ = next(e["data"] for e in events if e["event"] == "step")
    assert "CANVASFLOW_PYTHON_TOOLS" in step_["error"]


def test_openai_compatible_providers(server: Proc, client: httpx.Client, upstream: str) -> None:
    for name, inputs in (
        ("chatLocalAI", {"basePath": upstream + "/v1", "modelName": "mock?tokens=2"}),
        (
            "chatMistralAI",
            {
                "overrideEndpoint": upstream + "/v1",
                "modelName": "mock?tokens=2",
                "maxOutputTokens": 7,
            },
        ),
    ):
        flow = {
            "nodes": [
                node("m", name, inputs),
                node("p", "promptTemplate", {"template": "{question}"}),
                node("c", "llmChain", {"model": ref("m"), "prompt": ref("p")}),
            ],
            "edges": [],
        }
        canvas = make_canvas(server.url, flow)
        events = stream(client, canvas["id"], {"question": "q"})
        assert "".join(e["data"] for e in events if e["event"] == "token") == "word0 word1"
        assert events[-2]["data"]["usage"]["completion_tokens"] == 2
    assert httpx.get(upstream + "/requests").json()[-1]["max_tokens"] == 7


@pytest.mark.parametrize("name", ["chatOllama", "chatAnthropic"])
def test_native_chat_models_stream_and_report_usage(
    server: Proc, client: httpx.Client, upstream: str, name: str
) -> None:
    inputs = {"modelName": "mock?tokens=4", "temperature": 0.3}
    if name == "chatOllama":
        inputs["baseUrl"] = upstream
    flow = {
        "nodes": [
            node("m", name, inputs),
            node("mem", "bufferMemory", {}),
            node(
                "c",
                "conversationChain",
                {"model": ref("m"), "memory": ref("mem"), "systemMessagePrompt": "Be brief."},
            ),
        ],
        "edges": [],
    }
    canvas = make_canvas(server.url, flow)
    events = stream(client, canvas["id"], {"question": "q"})
    assert "".join(e["data"] for e in events if e["event"] == "token") == "word0 word1 word2 word3"
    meta = events[-2]["data"]
    assert meta["usage"]["completion_tokens"] == 4 and meta["usage"]["prompt_tokens"] > 0
    sent = httpx.get(upstream + "/requests").json()[-1]
    if name == "chatAnthropic":
        assert sent["system"] == "Be brief." and sent["messages"] == [
            {"role": "user", "content": "q"}
        ]
        assert sent["_headers"]["anthropic-version"] == "2023-06-01"
    else:
        assert sent["options"]["temperature"] == 0.3 and sent["stream"] is True


def chain_with(model_name: str, **chain_inputs: object) -> tuple[list, list]:
    nodes = [
        node("m", "chatOpenAI", {"modelName": model_name}),
        node("p", "promptTemplate", {"template": "{question}"}),
        node("c", "llmChain", {"model": ref("m"), "prompt": ref("p"), **chain_inputs}),
    ]
    return nodes, [edge("m", "c"), edge("p", "c")]


def test_input_moderation(server: Proc, client: httpx.Client) -> None:
    nodes, edges = chain_with("mock?tokens=2", inputModeration=[ref("mod")])
    nodes.append(node("mod", "inputModerationSimple", {"denyList": "forbidden, secret plan"}))
    edges.append(edge("mod", "c"))
    canvas = make_canvas(server.url, {"nodes": nodes, "edges": edges})
    events = stream(client, canvas["id"], {"question": "Tell me the SECRET PLAN"})
    err = next(e["data"] for e in events if e["event"] == "error")
    assert err["code"] == "moderation" and "moderation" in err["message"]
    assert not any(e["event"] == "token" for e in events)
    ok = client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "hello"})
    assert ok.json()["text"] == "word0 word1"


@pytest.mark.parametrize(
    ("parser", "inputs", "question", "expected"),
    [
        (
            "structuredOutputParser",
            {
                "jsonStructure": [
                    {"property": "answer", "type": "string", "description": "the answer"}
                ]
            },
            'echo: Sure: {"answer": "Paris", "extra": 1}',
            {"answer": "Paris"},
        ),
        ("csvOutputParser", {}, "echo: red, green, blue", ["red", "green", "blue"]),
    ],
)
def test_output_parsers(
    server: Proc,
    client: httpx.Client,
    upstream: str,
    parser: str,
    inputs: dict,
    question: str,
    expected: object,
) -> None:
    nodes, edges = chain_with("mock", outputParser=ref("op"))
    nodes.append(node("op", parser, inputs))
    edges.append(edge("op", "c"))
    canvas = make_canvas(server.url, {"nodes": nodes, "edges": edges})
    body = client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": question}).json()
    assert body["json"] == expected
    sent = httpx.get(upstream + "/requests").json()[-1]["messages"]
    assert sent[0]["role"] == "system" and sent[0]["content"].startswith("Answer with")


def test_conversation_summary_memory(server: Proc, client: httpx.Client, upstream: str) -> None:
    flow = {
        "nodes": [
            node("m", "chatOpenAI", {"modelName": "mock?tokens=2"}),
            node("mem", "conversationSummaryMemory", {"model": ref("m")}),
            node(
                "c",
                "conversationChain",
                {"model": ref("m"), "memory": ref("mem"), "systemMessagePrompt": "Sys."},
            ),
        ],
        "edges": [edge("m", "mem"), edge("m", "c"), edge("mem", "c")],
    }
    canvas = make_canvas(server.url, flow)
    chat = "summary-" + server.backend  # type: ignore[attr-defined]
    for q in ("one", "two", "three"):
        r = client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": q, "chatId": chat})
        assert r.status_code == 200, r.text
    assert r.json()["memoryType"] == "Conversation Summary Memory"
    requests = httpx.get(upstream + "/requests").json()
    summarise, answer = requests[-2]["messages"], requests[-1]["messages"]
    assert "Summarise" in summarise[0]["content"] and "user: one" in summarise[0]["content"]
    assert answer[0] == {"role": "system", "content": "Sys."}
    assert answer[1]["content"].startswith("Summary of the conversation so far: word0")
    assert answer[2:] == [
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "word0 word1"},
        {"role": "user", "content": "three"},
    ]


def test_retriever_tool_in_an_agent(server: Proc, client: httpx.Client) -> None:
    flow = rag_flow()
    flow["nodes"] = [n for n in flow["nodes"] if n["id"] != "chain_0"]
    flow["edges"] = [e for e in flow["edges"] if e["target"] != "chain_0"]
    flow["nodes"] += [
        node(
            "rt",
            "retrieverTool",
            {
                "name": "search",
                "description": "capitals",
                "retriever": ref("store_0"),
                "returnSourceDocuments": True,
            },
        ),
        node("mem", "bufferMemory", {}),
        node(
            "agent",
            "toolAgent",
            {"tools": [ref("rt")], "memory": ref("mem"), "model": ref("chatOpenAI_0")},
        ),
    ]
    flow["nodes"][-4]["data"]["inputs"]["modelName"] = "mock"  # chatOpenAI_0
    flow["edges"] += [
        edge("store_0", "rt"),
        edge("rt", "agent"),
        edge("mem", "agent"),
        edge("chatOpenAI_0", "agent"),
    ]
    canvas = make_canvas(server.url, flow)
    events = stream(
        client,
        canvas["id"],
        {
            "question": 'tool: search {"input": "capital of Germany"}',
            "overrideConfig": {"returnSourceDocuments": True, "returnIntermediateSteps": True},
        },
    )
    src = next(e["data"] for e in events if e["event"] == "source")
    assert src[0]["pageContent"] == "Berlin is the capital of Germany."
    step_ = next(e["data"] for e in events if e["event"] == "step")
    assert step_["step"] == "search" and step_["output"] == "Berlin is the capital of Germany."


def test_requests_tool_only_reaches_allowed_hosts(upstream: str) -> None:
    import asyncio

    from canvasflow.models.native import close_http
    from canvasflow.nodes.tools import RequestsTool, ToolError

    closed = RequestsTool("GET", upstream + "/stats", "get", "d", {}, 2000)
    opened = RequestsTool(
        "GET", upstream + "/stats", "get", "d", {}, 2000, frozenset({"127.0.0.1"})
    )

    async def go() -> str:
        try:
            with pytest.raises(ToolError, match="not allowed"):
                await closed.call({})
            return await opened.call({})
        finally:
            await close_http()

    assert '"started"' in asyncio.run(go())


def test_file_loaders() -> None:
    import asyncio
    import base64

    from canvasflow.nodes import load_all
    from canvasflow.runtime.context import RunContext

    nodes = load_all()

    def data_url(text: str, name: str) -> str:
        return f"data:text/plain;base64,{base64.b64encode(text.encode()).decode()},filename:{name}"

    def build(name: str, inputs: dict) -> list:
        return asyncio.run(nodes[name]("n", inputs).build(RunContext("q")))

    docs = build(
        "textFile", {"txtFile": data_url("hello world", "a.txt"), "metadata": '{"title": "T"}'}
    )
    assert docs == [{"pageContent": "hello world", "metadata": {"source": "a.txt", "title": "T"}}]
    docs = build(
        "csvFile",
        {
            "csvFile": data_url("city,country\nRome,Italy\nParis,France\n", "c.csv"),
            "columnName": "city",
        },
    )
    assert [d["pageContent"] for d in docs] == ["Rome", "Paris"]
    docs = build(
        "jsonFile",
        {
            "jsonFile": data_url('[{"q": "a", "x": 1}, {"q": "b"}]', "j.json"),
            "separateByObject": True,
            "pointersName": "q",
        },
    )
    assert [d["pageContent"] for d in docs] == ["a", "b"]


def swap_retriever(flow: dict, replacement: dict) -> dict:
    flow["nodes"] = [n for n in flow["nodes"] if n["id"] not in ("store_0", "embeddings_0")]
    flow["nodes"].append(replacement)
    flow["edges"] = [
        e
        for e in flow["edges"]
        if e["source"] not in ("store_0", "embeddings_0") and e["target"] not in ("store_0",)
    ]
    flow["edges"] += [edge("plainText_0", "store_0"), edge("store_0", "chain_0")]
    return flow


@pytest.mark.parametrize("kind", ["bm25Retriever", "faiss", "faiss+ollama"])
def test_other_retrievers(server: Proc, client: httpx.Client, upstream: str, kind: str) -> None:
    inputs: dict = {"document": [ref("plainText_0")], "topK": 1}
    flow = rag_flow()
    if kind.startswith("faiss"):
        inputs.update(embeddings=ref("emb"), basePath="capitals-" + kind.replace("+", "-"))
        emb = (
            node("emb", "ollamaEmbeddings", {"baseUrl": upstream, "modelName": "m"})
            if kind.endswith("ollama")
            else node("emb", "openAIEmbeddings", {})
        )
        flow = swap_retriever(flow, node("store_0", "faiss", inputs))
        flow["nodes"].append(emb)
        flow["edges"].append(edge("emb", "store_0"))
    else:
        flow = swap_retriever(flow, node("store_0", "bm25Retriever", inputs))
    canvas = make_canvas(server.url, flow)
    body = client.post(
        f"/api/v1/prediction/{canvas['id']}",
        json={
            "question": "Which city is the capital of Italy?",
            "overrideConfig": {"returnSourceDocuments": True},
        },
    ).json()
    assert [d["pageContent"] for d in body["sourceDocuments"]] == ["Rome is the capital of Italy."]
    if kind.startswith("faiss"):
        saved = server.data_dir / "faiss" / ("capitals-" + kind.replace("+", "-"))  # type: ignore[attr-defined]
        assert (saved / "index.faiss").is_file() and (saved / "docs.json").is_file()


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with one line of text, written by hand for the test."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def test_pdf_and_folder_loaders(server: Proc, client: httpx.Client) -> None:
    import base64

    files = server.data_dir / "files" / "kb"  # type: ignore[attr-defined]
    files.mkdir(parents=True, exist_ok=True)
    (files / "italy.md").write_text("Rome is the capital of Italy.")
    (files / "france.pdf").write_bytes(minimal_pdf("Paris is the capital of France."))
    (files / "skip.bin").write_bytes(b"\x00\x01")
    flow = {
        "nodes": [
            node("f", "folderFiles", {"folderPath": "kb", "recursive": True}),
            node("r", "bm25Retriever", {"document": [ref("f")], "topK": 5}),
            node("m", "chatOpenAI", {"modelName": "mock?tokens=1"}),
            node("c", "retrievalQAChain", {"model": ref("m"), "vectorStoreRetriever": ref("r")}),
        ],
        "edges": [edge("f", "r"), edge("r", "c"), edge("m", "c")],
    }
    canvas = make_canvas(server.url, flow)
    body = client.post(
        f"/api/v1/prediction/{canvas['id']}",
        json={"question": "capital of France", "overrideConfig": {"returnSourceDocuments": True}},
    ).json()
    sources = {d["metadata"]["source"]: d["pageContent"] for d in body["sourceDocuments"]}
    assert "Paris is the capital of France." in sources["france.pdf"]
    # a canvas cannot read outside the files folder
    flow["nodes"][0]["data"]["inputs"]["folderPath"] = "../../"
    bad = make_canvas(server.url, flow)
    r = client.post(f"/api/v1/prediction/{bad['id']}", json={"question": "q"})
    assert r.status_code == 400 and "not a folder under" in r.json()["message"]
    # a PDF as a Flowise data URL
    pdf = base64.b64encode(minimal_pdf("Berlin is the capital of Germany.")).decode()
    flow["nodes"][0] = node(
        "f", "pdfFile", {"pdfFile": f"data:application/pdf;base64,{pdf},filename:de.pdf"}
    )
    canvas = make_canvas(server.url, flow)
    body = client.post(
        f"/api/v1/prediction/{canvas['id']}",
        json={"question": "capital of Germany", "overrideConfig": {"returnSourceDocuments": True}},
    ).json()
    assert body["sourceDocuments"][0]["metadata"] == {"source": "de.pdf", "page": 1}


def test_files_uploaded_over_http_are_what_the_folder_node_reads(
    server: Proc, client: httpx.Client
) -> None:
    """The studio's uploads: a file and a folder's files put one by one under the files
    folder, listed with their sizes, read by a Folder with Files node; no path leaves
    the files folder (.., absolute, hidden, through a link), and a file can be deleted."""
    import os

    put = lambda path, data, folder="uploaded": client.put(  # noqa: E731
        "/api/v1/files", params={"folder": folder, "path": path}, content=data
    )
    r = put("spain.md", b"Madrid is the capital of Spain.")
    assert r.status_code == 201 and r.json()["path"] == "uploaded/spain.md"
    assert put("more/portugal.txt", b"Lisbon is the capital of Portugal.").status_code == 201
    listed = client.get("/api/v1/files", params={"folder": "uploaded"}).json()
    assert listed["exists"] is True and listed["totalBytes"] == 31 + 34
    assert [(f["path"], f["size"]) for f in listed["files"]] == [
        ("more/portugal.txt", 34),
        ("spain.md", 31),
    ]
    assert client.get("/api/v1/files", params={"folder": "none-yet"}).json()["exists"] is False
    flow = {
        "nodes": [
            node("f", "folderFiles", {"folderPath": "uploaded", "recursive": True}),
            node("r", "bm25Retriever", {"document": [ref("f")], "topK": 1}),
            node("m", "chatOpenAI", {"modelName": "mock?tokens=1"}),
            node("c", "retrievalQAChain", {"model": ref("m"), "vectorStoreRetriever": ref("r")}),
        ],
        "edges": [edge("f", "r"), edge("r", "c"), edge("m", "c")],
    }
    canvas = make_canvas(server.url, flow)
    body = client.post(
        f"/api/v1/prediction/{canvas['id']}",
        json={"question": "capital of Portugal", "overrideConfig": {"returnSourceDocuments": True}},
    ).json()
    assert body["sourceDocuments"][0]["metadata"]["source"] == "more/portugal.txt"
    # nothing outside the files folder, whatever the path says
    outside = server.data_dir / "outside"  # type: ignore[attr-defined]
    outside.mkdir(exist_ok=True)
    os.symlink(outside, server.data_dir / "files" / "uploaded" / "link")  # type: ignore[attr-defined]
    for folder, path in [
        ("uploaded", "../escape.txt"),
        ("../..", "escape.txt"),
        ("uploaded", "/etc/escape.txt"),
        ("uploaded", ".hidden"),
        ("uploaded", "link/escape.txt"),
        ("uploaded", "a\x00b"),
    ]:
        r = put(path, b"x", folder=folder)
        assert r.status_code == 400, (folder, path, r.text)
    assert not list(outside.iterdir())
    assert not (server.data_dir / "escape.txt").exists()  # type: ignore[attr-defined]
    r = client.delete("/api/v1/files", params={"folder": "uploaded", "path": "spain.md"})
    assert r.status_code == 200 and r.json() == {"deleted": 1}
    names = [
        f["path"]
        for f in client.get("/api/v1/files", params={"folder": "uploaded"}).json()["files"]
    ]
    assert names == ["more/portugal.txt"]  # the link is not listed either
    assert (
        client.delete(
            "/api/v1/files", params={"folder": "uploaded", "path": "spain.md"}
        ).status_code
        == 404
    )


def test_azure_chat_openai(server: Proc, client: httpx.Client, upstream: str) -> None:
    nodes = [
        node("m", "azureChatOpenAI", {"modelName": "mock?tokens=3", "basepath": upstream}),
        node("p", "promptTemplate", {"template": "{question}"}),
        node("c", "llmChain", {"model": ref("m"), "prompt": ref("p")}),
    ]
    canvas = make_canvas(server.url, {"nodes": nodes, "edges": []})
    r = client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "q"})
    assert r.status_code == 422 and "deployment" in r.json()["message"]
    cred = None
    import asyncio

    from canvasflow.config import Settings
    from canvasflow.store.repo import Store

    async def add() -> str:
        store = Store(Settings(database_url=server.database_url).resolved_database_url())  # type: ignore[attr-defined]
        try:
            return await store.create_credential(
                "azure " + server.backend,
                "azureOpenAIApi",
                {  # type: ignore[attr-defined]
                    "azureOpenAIApiKey": "k",
                    "azureOpenAIApiDeploymentName": "dep1",
                    "azureOpenAIApiVersion": "2024-10-21",
                },
            )
        finally:
            await store.close()

    cred = asyncio.run(add())
    nodes[0]["data"]["inputs"]["credential"] = cred
    canvas = make_canvas(server.url, {"nodes": nodes, "edges": []})
    events = stream(client, canvas["id"], {"question": "q"})
    assert "".join(e["data"] for e in events if e["event"] == "token") == "word0 word1 word2"


@pytest.mark.parametrize("embeddings", ["miniLMEmbeddings", "wordLlamaEmbeddings"])
def test_embedded_embeddings_retrieve_by_meaning(
    server: Proc, client: httpx.Client, embeddings: str
) -> None:
    flow = rag_flow()
    for n in flow["nodes"]:
        if n["id"] == "embeddings_0":
            n["data"]["name"] = embeddings
            n["data"]["inputs"] = {}
    canvas = make_canvas(server.url, flow)
    body = client.post(
        f"/api/v1/prediction/{canvas['id']}",
        json={
            "question": "Where does the Italian government sit?",  # no word shared with the answer
            "overrideConfig": {"returnSourceDocuments": True},
        },
        timeout=120,
    ).json()
    assert [d["pageContent"] for d in body["sourceDocuments"]] == ["Rome is the capital of Italy."]


def test_token_text_splitter_counts_tokens() -> None:
    import asyncio

    from canvasflow.nodes import load_all
    from canvasflow.runtime.context import RunContext

    splitter = asyncio.run(
        load_all()["tokenTextSplitter"]("t", {"chunkSize": 20, "chunkOverlap": 0}).build(
            RunContext("q")
        )
    )
    text = " ".join(["internationalisation"] * 30)  # several WordPiece tokens per word
    chunks = splitter.split_text(text)
    assert len(chunks) > 3
    assert all(len(c.split()) < 20 for c in chunks)  # tokens, not words, were counted


def document_store_flow(collection: str) -> dict:
    flow = rag_flow()
    for n in flow["nodes"]:
        if n["id"] == "store_0":
            n["data"]["name"] = "documentStore"
            n["data"]["inputs"]["collection"] = collection
    return flow


def test_document_store_upsert_then_search(backend_server: Proc) -> None:
    """The document store keeps chunks in canvasflow's database: on every backend."""
    server = backend_server
    client = httpx.Client(base_url=server.url, timeout=30)
    collection = "capitals-" + server.backend  # type: ignore[attr-defined]
    canvas = make_canvas(server.url, document_store_flow(collection))
    ask = {"question": "capital of Italy?", "overrideConfig": {"returnSourceDocuments": True}}
    before = client.post(f"/api/v1/prediction/{canvas['id']}", json=ask).json()
    assert "sourceDocuments" not in before  # nothing stored yet
    r = client.post(f"/api/v1/vector/upsert/{canvas['id']}")
    assert r.json() == {"numAdded": 3, "numSkipped": 0, "numUpdated": 0, "numDeleted": 0}
    again = client.post(f"/api/v1/vector/upsert/{canvas['slug']}").json()
    assert again["numAdded"] == 0 and again["numSkipped"] == 3
    after = client.post(f"/api/v1/prediction/{canvas['id']}", json=ask).json()
    assert [d["pageContent"] for d in after["sourceDocuments"]] == ["Rome is the capital of Italy."]
    assert after["sourceDocuments"][0]["metadata"]["title"] == "Capitals"
    plain = make_canvas(server.url, rag_flow())
    r = client.post(f"/api/v1/vector/upsert/{plain['id']}")
    assert r.status_code == 422 and "documentStore" in r.json()["message"]


def test_ingest_command_shows_progress(upstream: str, tmp_path: object) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    data = Path(str(tmp_path)) / "d"
    flow = document_store_flow("cli-capitals")
    f = Path(str(tmp_path)) / "c.json"
    f.write_text(json.dumps({"name": "kb", "flowData": json.dumps(flow)}))
    env = {**os.environ, "OPENAI_BASE_URL": upstream + "/v1", "OPENAI_API_KEY": "k"}
    run = [sys.executable, "-m", "canvasflow.cli"]
    r = subprocess.run(
        [*run, "canvas", "import", str(f), "--slug", "kb", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [*run, "ingest", "kb", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "3/3 chunks" in r.stderr and "added 3" in r.stdout
