"""The nodes of the Flowise chatflows people have (issue 19), each against a mock of the
service it calls, over real HTTP: the search APIs, ReAct agents, the LlamaIndex engines,
Pinecone, Redis memory, hosted LLMs, GitHub, the SQL chain, the zod output parser; then
Flowise's marketplace chatflows, imported and answered."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import (
    Proc,
    RedisServer,
    canvasflow_server,
    edge,
    make_canvas,
    node,
    ref,
    sse_events,
)

ROOT = Path(__file__).resolve().parent.parent
MARKETPLACE = ROOT / "tests" / "js" / "flowise-3.1.2" / "marketplaces" / "chatflows"
TEXT = "Paris is the capital of France.\n\nBerlin is the capital of Germany."


@pytest.fixture(scope="module")
def server(
    upstream: str, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """This module's server: SQLite, the tests' Redis as the server's own, the mock's host
    allowed, an SQLite database in its files folder."""
    data_dir = tmp_path_factory.mktemp("breadth")
    files = data_dir / "files"
    files.mkdir(parents=True)
    db = sqlite3.connect(files / "shop.sqlite")
    db.execute("CREATE TABLE fruits (name TEXT, price REAL)")
    db.executemany("INSERT INTO fruits VALUES (?, ?)", [("apple", 1.5), ("pear", 2.0)])
    db.commit()
    db.close()
    secret = sqlite3.connect(data_dir / "secret.sqlite")
    secret.execute("CREATE TABLE keys (k TEXT)")
    secret.execute("INSERT INTO keys VALUES ('hunter2')")
    secret.commit()
    secret.close()
    env = {
        "CANVASFLOW_ALLOWED_HOSTS": "127.0.0.1",
        "REDIS_URL": redis_server.url,
        # the server's Azure OpenAI: the mock's deployment route
        "AZURE_OPENAI_ENDPOINT": upstream,
        "AZURE_OPENAI_DEPLOYMENT": "mock-deployment",
        "AZURE_OPENAI_API_KEY": "azure-key",
    }
    proc = canvasflow_server(data_dir, upstream, env).start()
    proc.data_dir = data_dir  # type: ignore[attr-defined]
    yield proc
    proc.stop()


@pytest.fixture
def client(server: Proc) -> Any:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def seen(upstream: str, service: str) -> list[dict[str, Any]]:
    return [s for s in httpx.get(f"{upstream}/services/seen").json() if s["_service"] == service]


def predict(client: httpx.Client, canvas: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"/api/v1/prediction/{canvas}", json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def stream(client: httpx.Client, canvas: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    r = client.post(f"/api/v1/prediction/{canvas}", json={**body, "streaming": True})
    assert r.status_code == 200, r.text
    return sse_events(r.content)


def tokens(events: list[dict[str, Any]]) -> str:
    return "".join(e["data"] for e in events if e["event"] == "token")


def agent(tool: dict[str, Any], kind: str = "toolAgent", model: str = "mock") -> dict[str, Any]:
    return {
        "nodes": [
            tool,
            node("mem_0", "bufferMemory", {}),
            node("chatOpenAI_0", "chatOpenAI", {"modelName": model}),
            node(
                "agent_0",
                kind,
                {"tools": [ref(tool["id"])], "memory": ref("mem_0"), "model": ref("chatOpenAI_0")},
            ),
        ],
        "edges": [
            edge(tool["id"], "agent_0"),
            edge("mem_0", "agent_0"),
            edge("chatOpenAI_0", "agent_0"),
        ],
    }


# -- search tools ------------------------------------------------------------------------

SEARCH = [
    ("serpAPI", "search", "serpapi", "serp-key"),
    ("serper", "search", "serper", "serper-key"),
    ("googleCustomSearch", "google-custom-search", "google_search", "google-key"),
    ("braveSearchAPI", "brave-search", "brave", "brave-key"),
    ("tavilyAPI", "tavily_search_results_json", "tavily", "Bearer tavily-key"),
]


@pytest.mark.parametrize(("name", "tool", "service", "key"), SEARCH)
def test_search_tool_calls_its_api(
    server: Proc, client: httpx.Client, upstream: str, name: str, tool: str, service: str, key: str
) -> None:
    canvas = make_canvas(server.url, agent(node(f"{name}_0", name, {})))
    query = f"canvasflow {name}"
    body = predict(client, canvas["id"], {"question": f'tool: {tool} {{"input": "{query}"}}'})
    [used] = body["usedTools"]
    assert used["tool"] == tool and used["toolInput"] == {"input": query}
    assert f"Result 1 for {query}" in used["toolOutput"]
    assert "https://example.org/1" in used["toolOutput"]
    assert body["text"].startswith("The answer is ")
    assert f"Result 1 for {query}" in body["text"]
    last = seen(upstream, service)[-1]
    assert last["_key"] == key  # the server's key, sent only to the service
    if service == "google_search":
        assert last["cx"] == "cse-id"


def test_search_tool_with_a_stored_credential(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    """A node's own credential is used instead of the server's key; the API's refusal
    reaches the agent as the tool's error, and the answer says so."""
    r = client.post(
        "/api/v1/credentials",
        json={
            "name": "my serp",
            "credentialName": "serpApi",
            "plainDataObj": {"serpApiKey": "wrong"},
        },
    )
    assert r.status_code in (200, 201), r.text
    tool = node("serpAPI_0", "serpAPI", {"credential": r.json()["id"]})
    canvas = make_canvas(server.url, agent(tool))
    body = predict(client, canvas["id"], {"question": 'tool: search {"input": "x"}'})
    assert seen(upstream, "serpapi")[-1]["_key"] == "wrong"
    assert "SerpAPI answered 401" in body["usedTools"][0]["toolOutput"]


def test_tavily_options_reach_its_api(server: Proc, client: httpx.Client, upstream: str) -> None:
    tool = node(
        "tavilyAPI_0",
        "tavilyAPI",
        {"includeAnswer": True, "maxResults": 3, "includeDomains": "a.org, b.org", "topic": "news"},
    )
    canvas = make_canvas(server.url, agent(tool))
    body = predict(
        client, canvas["id"], {"question": 'tool: tavily_search_results_json {"input": "q"}'}
    )
    sent = seen(upstream, "tavily")[-1]["body"]
    assert sent["query"] == "q" and sent["max_results"] == 3 and sent["include_answer"] is True
    assert sent["include_domains"] == ["a.org", "b.org"] and sent["days"] == 7
    assert "Answer: the answer to q" in body["usedTools"][0]["toolOutput"]


# -- ReAct agents ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["reactAgentChat", "reactAgentLLM", "conversationalAgent"])
def test_react_agent_uses_a_tool_by_prompting(
    server: Proc, client: httpx.Client, upstream: str, kind: str
) -> None:
    """No tool calling: the model is prompted in the ReAct format, the agent runs the
    action it names and streams its final answer."""
    canvas = make_canvas(server.url, agent(node("calculator_0", "calculator", {}), kind))
    events = stream(
        client,
        canvas["id"],
        {"question": "calc: 6*7", "overrideConfig": {"returnIntermediateSteps": True}},
    )
    steps = [e["data"] for e in events if e["event"] == "step"]
    assert steps == [
        {"step": "calculator", "type": "tool", "input": {"input": "6*7"}, "output": "42"}
    ]
    assert tokens(events) == "The answer is 42"
    assert len([e for e in events if e["event"] == "token"]) > 1  # streamed, not one piece
    last = httpx.get(f"{upstream}/requests").json()[-1]
    assert "tools" not in last  # prompted, not the provider's tool calling
    assert "Action Input:" in last["messages"][0]["content"]
    assert "Observation: 42" in last["messages"][-1]["content"]


def test_react_agent_answers_without_a_tool_and_names_a_wrong_one(
    server: Proc, client: httpx.Client
) -> None:
    canvas = make_canvas(server.url, agent(node("serpAPI_0", "serpAPI", {}), "reactAgentChat"))
    assert predict(client, canvas["id"], {"question": "hello"})["text"] == (
        "word0 word1 word2 word3 word4 word5 word6 word7 word8 word9"
    )
    body = predict(client, canvas["id"], {"question": 'tool: nosuch {"input": "x"}'})
    assert body["text"].startswith("The answer is error: nosuch is not a valid tool")


# -- LlamaIndex --------------------------------------------------------------------------


def pinecone_llama(index: str, namespace: str, docs: bool = True) -> list[dict[str, Any]]:
    return [
        node(
            "split_0",
            "characterTextSplitter",
            {"chunkSize": 40, "chunkOverlap": 0, "separator": "\n\n"},
        ),
        node(
            "plainText_0",
            "plainText",
            {"text": TEXT, "metadata": '{"source": "capitals"}', "textSplitter": ref("split_0")},
        )
        if docs
        else None,
        node("embed_0", "openAIEmbedding_LlamaIndex", {"modelName": "mock-embed"}),
        node("llm_0", "chatOpenAI_LlamaIndex", {"modelName": "mock?tokens=4"}),
        node(
            "pinecone_0",
            "pineconeLlamaIndex",
            {
                "document": [ref("plainText_0")] if docs else "",
                "model": ref("llm_0"),
                "embeddings": ref("embed_0"),
                "pineconeIndex": index,
                "pineconeNamespace": namespace,
                "topK": 1,
            },
        ),
    ]


def flow_of(nodes: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Nodes with an edge for every reference between them."""
    real = [n for n in nodes if n]
    ids = {n["id"] for n in real}
    edges = []
    for n in real:
        for value in n["data"]["inputs"].values():
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str) and v.startswith("{{") and v[2:].split(".")[0] in ids:
                    edges.append(edge(v[2:].split(".")[0], n["id"]))
    return {"nodes": real, "edges": edges}


def test_query_engine_on_pinecone(server: Proc, client: httpx.Client, upstream: str) -> None:
    """Documents are upserted to the index once, the question's nearest one comes back,
    the compact-and-refine synthesizer prompts the index's model with it."""
    flow = flow_of(
        [
            *pinecone_llama("capitals", "qe"),
            node("synth_0", "compactrefineLlamaIndex", {}),
            node(
                "engine_0",
                "queryEngine",
                {
                    "vectorStoreRetriever": ref("pinecone_0"),
                    "responseSynthesizer": ref("synth_0"),
                    "returnSourceDocuments": True,
                },
            ),
        ]
    )
    canvas = make_canvas(server.url, flow)
    body = predict(client, canvas["id"], {"question": "What is the capital of Germany?"})
    assert body["text"] == "word0 word1 word2 word3"
    [doc] = body["sourceDocuments"]
    assert doc["pageContent"] == "Berlin is the capital of Germany."
    assert doc["metadata"] == {"source": "capitals", "chunk": 1}
    prompt = httpx.get(f"{upstream}/requests").json()[-1]["messages"][-1]["content"]
    assert "Berlin is the capital of Germany." in prompt and "Query: What is the capital" in prompt
    upserts = [s for s in seen(upstream, "pinecone") if s["_path"].endswith("/vectors/upsert")]
    predict(client, canvas["id"], {"question": "And France?"})
    again = [s for s in seen(upstream, "pinecone") if s["_path"].endswith("/vectors/upsert")]
    assert len(upserts) == len(again) >= 1  # upserted once, not per question
    assert all(s["_key"] == "pinecone-key" for s in seen(upstream, "pinecone"))


def test_context_chat_engine_with_redis_memory(
    server: Proc, client: httpx.Client, upstream: str, redis_server: RedisServer
) -> None:
    """The engine retrieves for every message and keeps the chat in Redis (the server's
    own, under canvasflow's prefix): the second turn's prompt holds the first."""
    flow = flow_of(
        [
            *pinecone_llama("capitals", "chat"),
            node("redis_0", "RedisBackedChatMemory", {"sessionTTL": 60}),
            node(
                "engine_0",
                "contextChatEngine",
                {
                    "model": ref("llm_0"),
                    "vectorStoreRetriever": ref("pinecone_0"),
                    "memory": ref("redis_0"),
                    "returnSourceDocuments": True,
                },
            ),
        ]
    )
    canvas = make_canvas(server.url, flow)
    first = predict(client, canvas["id"], {"question": "echo: capital of France", "chatId": "c1"})
    assert first["text"] == "capital of France"
    assert first["sourceDocuments"][0]["pageContent"] == "Paris is the capital of France."
    predict(client, canvas["id"], {"question": "echo: and Germany?", "chatId": "c1"})
    messages = httpx.get(f"{upstream}/requests").json()[-1]["messages"]
    assert "Berlin is the capital of Germany." in messages[0]["content"]
    assert [m["content"] for m in messages[1:]] == [
        "echo: capital of France",
        "capital of France",
        "echo: and Germany?",
    ]
    import redis

    r = redis.Redis.from_url(redis_server.url)
    keys = [k.decode() for k in r.keys("canvasflow:memory:*")]
    assert keys == [f"canvasflow:memory:{canvas['id']}:c1"]
    stored = [json.loads(x) for x in r.lrange(keys[0], 0, -1)]
    assert stored[0] == {"type": "ai", "data": {"content": "and Germany?"}}  # newest first
    assert 0 < r.ttl(keys[0]) <= 60


def test_simple_chat_engine_and_sub_question_engine(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    simple = flow_of(
        [
            node("llm_0", "chatOpenAI_LlamaIndex", {"modelName": "mock?tokens=2"}),
            node("mem_0", "bufferMemory", {}),
            node("engine_0", "simpleChatEngine", {"model": ref("llm_0"), "memory": ref("mem_0")}),
        ]
    )
    canvas = make_canvas(server.url, simple)
    assert predict(client, canvas["id"], {"question": "hi"})["text"] == "word0 word1"
    sub = flow_of(
        [
            *pinecone_llama("capitals", "sub"),
            node("qe_0", "queryEngine", {"vectorStoreRetriever": ref("pinecone_0")}),
            node(
                "tool_0",
                "queryEngineToolLlamaIndex",
                {"baseQueryEngine": ref("qe_0"), "toolName": "capitals", "toolDesc": "capitals"},
            ),
            node(
                "sub_0",
                "subQuestionQueryEngine",
                {
                    "queryEngineTools": [ref("tool_0")],
                    "model": ref("llm_0"),
                    "embeddings": ref("embed_0"),
                    "returnSourceDocuments": True,
                },
            ),
        ]
    )
    canvas = make_canvas(server.url, sub)
    events = stream(
        client,
        canvas["id"],
        {"question": "Capital of France?", "overrideConfig": {"returnIntermediateSteps": True}},
    )
    steps = [e["data"] for e in events if e["event"] == "step"]
    assert steps[0]["step"] == "sub questions"
    assert steps[1]["step"] == "capitals" and steps[1]["type"] == "tool"
    assert tokens(events) == "word0 word1 word2 word3"
    final = httpx.get(f"{upstream}/requests").json()[-1]["messages"][-1]["content"]
    assert "Sub question:" in final and "Response: word0" in final


# -- Pinecone (LangChain's node) behind a retriever tool ---------------------------------


def test_pinecone_upsert_route_and_metadata_filter(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    """The vector upsert route loads a Pinecone node's documents; queries carry the
    node's metadata filter."""
    flow = flow_of(
        [
            node(
                "split_0",
                "characterTextSplitter",
                {"chunkSize": 40, "chunkOverlap": 0, "separator": "\n\n"},
            ),
            node(
                "plainText_0",
                "plainText",
                {"text": TEXT, "metadata": '{"source": "apple"}', "textSplitter": ref("split_0")},
            ),
            node("embed_0", "openAIEmbeddings", {"modelName": "mock-embed"}),
            node(
                "pinecone_0",
                "pinecone",
                {
                    "document": [ref("plainText_0")],
                    "embeddings": ref("embed_0"),
                    "pineconeIndex": "newindex",
                    "pineconeNamespace": "form10k",
                    "pineconeMetadataFilter": '{"source": "apple"}',
                    "topK": 2,
                },
            ),
            node("llm_0", "chatOpenAI", {"modelName": "mock?tokens=2"}),
            node(
                "chain_0",
                "retrievalQAChain",
                {"model": ref("llm_0"), "vectorStoreRetriever": ref("pinecone_0")},
            ),
        ]
    )
    canvas = make_canvas(server.url, flow)
    r = client.post(f"/api/v1/vector/upsert/{canvas['id']}", json={})
    assert r.status_code == 200, r.text
    assert r.json()["numAdded"] == 2
    body = predict(client, canvas["id"], {"question": "Berlin?"})
    assert body["text"] == "word0 word1"
    assert seen(upstream, "pinecone")[-1]["topK"] == 2


def test_pinecone_credential_not_stored_falls_back_to_the_server_key(
    server: Proc, client: httpx.Client
) -> None:
    flow = flow_of(
        [
            node("embed_0", "openAIEmbeddings", {"modelName": "mock-embed"}),
            node(
                "pinecone_0",
                "pinecone",
                {"embeddings": ref("embed_0"), "pineconeIndex": "x", "credential": "no-such"},
            ),
            node("llm_0", "chatOpenAI", {"modelName": "mock"}),
            node(
                "chain_0",
                "retrievalQAChain",
                {"model": ref("llm_0"), "vectorStoreRetriever": ref("pinecone_0")},
            ),
        ]
    )
    canvas = make_canvas(server.url, flow)
    body = predict(client, canvas["id"], {"question": "q"})
    assert body["text"]  # the server's PINECONE_API_KEY is the fallback


# -- hosted LLMs -------------------------------------------------------------------------


def llm_chain(model: dict[str, Any], template: str = "Question: {question}") -> dict[str, Any]:
    return flow_of(
        [
            model,
            node("prompt_0", "promptTemplate", {"template": template}),
            node("chain_0", "llmChain", {"model": ref(model["id"]), "prompt": ref("prompt_0")}),
        ]
    )


def test_replicate_prediction_is_followed_to_its_end(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    model = node(
        "replicate_0",
        "replicate",
        {"model": "a16z-infra/llama13b-v2-chat:df7690", "temperature": 0.5, "maxTokens": 64},
    )
    canvas = make_canvas(server.url, llm_chain(model))
    body = predict(client, canvas["id"], {"question": "Who are you?"})
    assert body["text"] == "Replicate says: Question: Who are you?"
    sent = seen(upstream, "replicate")[-1]
    assert sent["_key"] == "Bearer replicate-key"
    assert sent["body"]["version"] == "df7690"
    assert sent["body"]["input"] == {
        "prompt": "Question: Who are you?",
        "temperature": 0.5,
        "max_length": 64,
    }
    events = stream(client, canvas["id"], {"question": "Again?"})
    assert tokens(events) == "Replicate says: Question: Again?"


def test_hugging_face_inference(server: Proc, client: httpx.Client, upstream: str) -> None:
    model = node(
        "hf_0", "huggingFaceInference_LLMs", {"model": "tiiuae/falcon-7b-instruct", "maxTokens": 20}
    )
    canvas = make_canvas(server.url, llm_chain(model))
    body = predict(client, canvas["id"], {"question": "Why?"})
    assert body["text"] == "HF tiiuae/falcon-7b-instruct answers: Question: Why?"
    sent = seen(upstream, "huggingface")[-1]
    assert sent["_key"] == "Bearer hf-key"
    assert sent["body"]["parameters"]["max_new_tokens"] == 20
    # an endpoint of the author's own: never the server's key
    own = node(
        "hf_0", "huggingFaceInference_LLMs", {"endpoint": f"{upstream}/huggingface/models/mine"}
    )
    canvas = make_canvas(server.url, llm_chain(own))
    predict(client, canvas["id"], {"question": "Why?"})
    assert seen(upstream, "huggingface")[-1]["_key"] is None
    far = node("hf_0", "huggingFaceInference_LLMs", {"endpoint": "http://169.254.169.254/x"})
    canvas = make_canvas(server.url, llm_chain(far))
    r = client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "Why?"})
    assert r.status_code == 422 and "not allowed" in r.text


# -- GitHub loader -----------------------------------------------------------------------


def test_github_loader_reads_a_repository(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    flow = flow_of(
        [
            node(
                "github_0",
                "github",
                {
                    "repoLink": "https://github.com/mock-owner/mock-repo",
                    "branch": "main",
                    "recursive": True,
                    "ignorePath": '["src/*"]',
                },
            ),
            node("bm25_0", "bm25Retriever", {"document": [ref("github_0")], "topK": 5}),
            node("llm_0", "chatOpenAI", {"modelName": "mock?tokens=2"}),
            node(
                "chain_0",
                "conversationalRetrievalQAChain",
                {
                    "model": ref("llm_0"),
                    "vectorStoreRetriever": ref("bm25_0"),
                    "returnSourceDocuments": True,
                },
            ),
        ]
    )
    canvas = make_canvas(server.url, flow)
    body = predict(client, canvas["id"], {"question": "How do canvases stream answers?"})
    sources = {d["metadata"]["source"] for d in body["sourceDocuments"]}
    assert sources == {"README.md", "docs/guide.md"}  # no image, nothing ignored
    assert {s["_key"] for s in seen(upstream, "github")} == {"Bearer github-key"}
    files = [s for s in seen(upstream, "github") if "file" in s]
    predict(client, canvas["id"], {"question": "again"})
    assert len([s for s in seen(upstream, "github") if "file" in s]) == len(files)  # cached


# -- SQL chain ---------------------------------------------------------------------------


def sql_flow(url: str, database: str = "sqlite") -> dict[str, Any]:
    return flow_of(
        [
            node("llm_0", "chatOpenAI", {"modelName": "mock"}),
            node(
                "sql_0",
                "sqlDatabaseChain",
                {"model": ref("llm_0"), "database": database, "url": url},
            ),
        ]
    )


def test_sql_chain_answers_from_a_read_only_database(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    canvas = make_canvas(server.url, sql_flow("shop.sqlite"))
    events = stream(
        client,
        canvas["id"],
        {
            "question": "How dear is a pear? sql: SELECT price FROM fruits WHERE name = 'pear'",
            "overrideConfig": {"returnIntermediateSteps": True},
        },
    )
    [sql_step] = [e["data"] for e in events if e["event"] == "step"]
    assert sql_step["input"] == "SELECT price FROM fruits WHERE name = 'pear'"
    assert sql_step["output"] == "[('price',), (2.0,)]"
    assert tokens(events) == "The answer is [('price',), (2.0,)]"
    asked = httpx.get(f"{upstream}/requests").json()[-2]["messages"][-1]["content"]
    assert "CREATE TABLE fruits" in asked and "apple\t1.5" in asked  # tables and sample rows
    for sql in (
        "DELETE FROM fruits",
        "ATTACH DATABASE '../secret.sqlite' AS s",
        "PRAGMA writable_schema = 1",
    ):
        events = stream(client, canvas["id"], {"question": f"x sql: {sql}"})
        [error] = [e["data"] for e in events if e["event"] == "error"]
        assert "the query failed" in error["message"] and "not authorized" in error["message"]
    db = sqlite3.connect(Path(server.data_dir) / "files" / "shop.sqlite")  # type: ignore[attr-defined]
    assert db.execute("SELECT count(*) FROM fruits").fetchone() == (2,)


def test_sql_chain_refuses_files_outside_its_folder_and_unknown_hosts(
    server: Proc, client: httpx.Client
) -> None:
    for flow, why in (
        (sql_flow("../secret.sqlite"), "inside the server's files folder"),
        (sql_flow("/etc/passwd"), "inside the server's files folder"),
        (sql_flow("postgresql://u@db.example.com/x", "postgres"), "not allowed"),
    ):
        canvas = make_canvas(server.url, flow)
        r = client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "q sql: SELECT 1"})
        assert r.status_code == 422 and why in r.text, r.text


def test_sql_chain_on_postgres_is_read_only(server: Proc, client: httpx.Client) -> None:
    from tests.support import create_pg_database, drop_pg_database

    url = create_pg_database()
    try:
        import asyncio

        import asyncpg

        async def seed() -> None:
            conn = await asyncpg.connect(url)
            await conn.execute(
                "CREATE TABLE fruits (name text, price float); INSERT INTO fruits VALUES ('fig', 3)"
            )
            await conn.close()

        asyncio.run(seed())
        from tests.support import pg_reader

        canvas = make_canvas(server.url, sql_flow(pg_reader(url), "postgres"))
        body = predict(client, canvas["id"], {"question": "q sql: SELECT name, price FROM fruits"})
        assert body["text"] == "The answer is [('name', 'price'), ('fig', 3.0)]"
        for attack in (
            "DELETE FROM fruits",
            "SET default_transaction_read_only = off",  # then, on the same connection:
            "DELETE FROM fruits",
            "SET TRANSACTION READ WRITE",
        ):
            r = client.post(
                f"/api/v1/prediction/{canvas['id']}", json={"question": f"q sql: {attack}"}
            )
            if "DELETE" in attack:
                assert "read-only transaction" in r.text, r.text
        body = predict(client, canvas["id"], {"question": "q sql: SELECT count(*) FROM fruits"})
        assert body["text"] == "The answer is [('count',), (1,)]"  # nothing was deleted
    finally:
        drop_pg_database(url)


# -- advanced structured output parser ---------------------------------------------------

ZOD = """z.array(z.object({
    title: z.string(), // Title of the movie as a string
    yearOfRelease: z.number().int(), // Release year as an integer number,
    genres: z.enum([
        "Action", "Comedy", "Drama"
    ]).array().max(2), // Array of genres, max of 2 from the defined enum
    shortDescription: z.string().max(500).optional() // Short description
}))"""


def test_zod_schema_reaches_the_model_and_checks_its_answer(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    flow = flow_of(
        [
            node("llm_0", "chatOpenAI", {"modelName": "mock"}),
            node("prompt_0", "promptTemplate", {"template": "{question}"}),
            node("parser_0", "advancedStructuredOutputParser", {"exampleJson": ZOD}),
            node(
                "chain_0",
                "llmChain",
                {"model": ref("llm_0"), "prompt": ref("prompt_0"), "outputParser": ref("parser_0")},
            ),
        ]
    )
    canvas = make_canvas(server.url, flow)
    body = predict(client, canvas["id"], {"question": "Two movies"})
    assert body["json"] == [
        {"title": "mock", "yearOfRelease": 1, "genres": ["Action"], "shortDescription": "mock"}
    ]
    system = httpx.get(f"{upstream}/requests").json()[-1]["messages"][0]["content"]
    schema = json.loads(system.split("nothing else: ", 1)[1])
    assert schema["items"]["required"] == ["title", "yearOfRelease", "genres"]
    assert schema["items"]["properties"]["genres"] == {
        "type": "array",
        "items": {"type": "string", "enum": ["Action", "Comedy", "Drama"]},
        "maxItems": 2,
        "description": "Array of genres, max of 2 from the defined enum",
    }


def test_zod_reader_unit() -> None:
    from canvasflow.nodes.parsers import ZodError, mismatch, zod_to_schema

    schema = zod_to_schema(
        "z.object({ a: z.string().describe('x'), b: z.number().nullable(), "
        "c: z.literal(3).optional() })"
    )
    assert schema == {
        "type": "object",
        "properties": {
            "a": {"type": "string", "description": "x"},
            "b": {"anyOf": [{"type": "number"}, {"type": "null"}]},
            "c": {"const": 3},
        },
        "required": ["a", "b"],
    }
    assert mismatch({"a": "s", "b": None}, schema) is None
    assert mismatch({"a": 1, "b": None}, schema) == "answer.a should be string, not int"
    assert mismatch({"a": "s"}, schema) == "answer lacks 'b'"
    with pytest.raises(ZodError, match="not supported"):
        zod_to_schema("z.function()")
    with pytest.raises(ZodError, match="expected"):
        zod_to_schema("z.object({ a: z.string() ")
    with pytest.raises(ZodError):
        zod_to_schema("process.exit(1)")


# -- Flowise's marketplace ---------------------------------------------------------------


def test_marketplace_chatflows_know_their_nodes_and_answer(
    server: Proc, client: httpx.Client
) -> None:
    """At least 20 of Flowise 3.1.2's 24 chatflow templates import with every node known
    (drafts only for an empty file or input), and each that is ready answers against the
    mocks, streamed and as JSON."""
    files = sorted(MARKETPLACE.glob("*.json"))
    assert len(files) == 24, MARKETPLACE
    known, answered, drafts = [], [], {}
    for path in files:
        r = client.post("/api/v1/canvases/import", json=json.loads(path.read_text()))
        assert r.status_code == 201, (path.name, r.text[:300])
        canvas = r.json()
        errors = [p for p in canvas["problems"] if p["level"] == "error"]
        if not any("not supported" in p["message"] for p in errors):
            known.append(path.stem)
        if errors:
            drafts[path.stem] = [p["message"] for p in errors]
            continue
        body = predict(client, canvas["id"], {"question": "Hello there"})
        assert body["text"], path.stem
        events = stream(client, canvas["id"], {"question": "Hello again"})
        assert [e["event"] for e in events][-1] == "end", (path.stem, events[-3:])
        answered.append(path.stem)
    print(f"\n{len(known)} with every node known; {len(answered)} answer: {', '.join(answered)}")
    for name, why in drafts.items():
        print(f"  draft {name}: {why[:2]}")
    assert len(known) >= 20, sorted(set(p.stem for p in files) - set(known))
    assert len(answered) >= 12, drafts


def test_flowises_document_store_loader_imports_as_itself(client: httpx.Client) -> None:
    """The marketplace's "Conversational Retrieval QA Chain" uses Flowise's Document
    Store loader: it imports with every node known, as Flowise's loader (canvasflow's
    older vector store of that name is told apart by its inputs)."""
    path = MARKETPLACE / "Conversational Retrieval QA Chain.json"
    r = client.post("/api/v1/canvases/import", json=json.loads(path.read_text()))
    assert r.status_code == 201, r.text[:300]
    canvas = r.json()
    ids = [
        n["id"]
        for n in json.loads(canvas["flowData"])["nodes"]
        if n["data"]["name"] == "documentStore"
    ]
    assert ids, "the node stays on the canvas"
    said = " ".join(p["message"] for p in canvas["problems"])
    assert "not supported" not in said and "unknown" not in said.lower(), said
    nodes = client.get("/api/v1/nodes").json()
    named = {n["name"]: n for n in nodes}
    assert named["documentStore"]["category"] == "Document Loaders"
    assert named["canvasflowDocumentStore"]["category"] == "Vector Stores"


# -- OpenAPI toolkit ------------------------------------------------------------------------


def toolkit_agent(inputs: dict[str, Any]) -> dict[str, Any]:
    return agent(node("openAPIToolkit_0", "openAPIToolkit", inputs))


def test_openapi_toolkit_from_a_link_runs_its_code_in_the_sandbox(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    """The document (YAML, a relative server, a $ref) becomes one tool per operation;
    Flowise's default fetch code runs in the JavaScript sandbox with $url and $options."""
    flow = toolkit_agent(
        {
            "inputType": "link",
            "openApiLink": f"{upstream}/openapi/spec.yaml",
            "headers": '{"x-api-key": "pets-key"}',
            "customCode": "const fetch = require('node-fetch');\n"
            "const r = await fetch($url, $options);\n"
            "return 'got ' + JSON.stringify(await r.json());",
        }
    )
    canvas = make_canvas(server.url, flow)
    body = predict(client, canvas["id"], {"question": 'tool: getPet {"petId": "7"}'})
    assert body["usedTools"][0]["toolOutput"] == 'got {"id":"7","name":"Rex"}'
    assert seen(upstream, "pets")[-1]["_key"] == "pets-key"
    body = predict(client, canvas["id"], {"question": 'tool: listPets {"limit": 1}'})
    assert body["usedTools"][0]["toolOutput"] == 'got [{"id":"1","name":"Rex"}]'
    assert seen(upstream, "pets")[-1]["query"] == {"limit": "1"}
    far = toolkit_agent({"inputType": "link", "openApiLink": "http://10.9.9.9/spec.yaml"})
    r = client.post(
        f"/api/v1/prediction/{make_canvas(server.url, far)['id']}", json={"question": "q"}
    )
    assert r.status_code == 422 and "not allowed" in r.text


def test_openapi_toolkit_from_a_file_without_code_and_chosen_endpoints(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    import base64

    from tests.mock_services import PETS_SPEC

    data = "data:application/yaml;base64," + base64.b64encode(PETS_SPEC.encode()).decode()
    flow = toolkit_agent(
        {
            "inputType": "file",
            "openApiFile": data + ",filename:pets.yaml",
            "selectedServer": f"{upstream}/openapi",
            "selectedEndpoints": '["createPet"]',
            "customCode": "",
        }
    )
    canvas = make_canvas(server.url, flow)
    body = predict(client, canvas["id"], {"question": 'tool: createPet {"body": {"name": "Bo"}}'})
    assert json.loads(body["usedTools"][0]["toolOutput"]) == {"created": {"name": "Bo"}}
    body = predict(client, canvas["id"], {"question": 'tool: getPet {"petId": "1"}'})
    assert body["usedTools"][0]["toolOutput"] == "error: no tool 'getPet'"
    far = toolkit_agent(
        {
            "inputType": "file",
            "openApiFile": data,
            "selectedServer": "http://169.254.169.254",
            "customCode": "",
        }
    )
    canvas = make_canvas(server.url, far)
    body = predict(client, canvas["id"], {"question": 'tool: getPet {"petId": "1"}'})
    assert "not allowed" in body["usedTools"][0]["toolOutput"]
    # an empty file input is a draft, named where it is
    r = client.post(
        "/api/v1/canvases",
        json={"name": "d", "flowData": json.dumps(toolkit_agent({"inputType": "file"}))},
    )
    assert [p["input"] for p in r.json()["problems"] if p["level"] == "error"] == ["openApiFile"]


# -- CSV agent ------------------------------------------------------------------------------


def test_csv_agent_runs_the_models_code_in_the_sandbox(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    import base64

    table = "name,price\napple,1.5\npear,2\nfig,3\n"
    data = "data:text/csv;base64," + base64.b64encode(table.encode()).decode() + ",filename:f.csv"
    flow = flow_of(
        [
            node("llm_0", "chatOpenAI", {"modelName": "mock"}),
            node("csv_0", "csvAgent", {"model": ref("llm_0"), "csvFile": data}),
        ]
    )
    canvas = make_canvas(server.url, flow)
    code = "return $rows.filter(r => r.price > 1.6).map(r => r.name)"
    events = stream(
        client,
        canvas["id"],
        {
            "question": f"Which cost more? js: {code}",
            "overrideConfig": {"returnIntermediateSteps": True},
        },
    )
    [csv_step] = [e["data"] for e in events if e["event"] == "step"]
    assert csv_step["input"] == code and csv_step["output"] == '["pear","fig"]'
    assert tokens(events) == 'The answer is ["pear","fig"]'
    asked = httpx.get(f"{upstream}/requests").json()[-2]["messages"][-1]["content"]
    assert "Columns: name, price" in asked and '{"name":"apple","price":1.5}' in asked
    # the code cannot reach the host: no require, no network, no process
    for hostile in (
        "return require('fs').readFileSync('/etc/passwd', 'utf8')",
        "const r = await fetch('http://127.0.0.1:1/'); return r.status",
        "return typeof process === 'undefined' ? 'no process' : process.env",
    ):
        body = predict(client, canvas["id"], {"question": f"x js: {hostile}"})
        assert "passwd" not in body["text"] and "root:" not in body["text"]
        assert "error" in body["text"] or "no process" in body["text"], body["text"]


# -- routing chains, retrievers, summary buffer memory ------------------------------------


def store_of(node_id: str, text: str, source: str) -> list[dict[str, Any]]:
    """A plain text split into paragraphs, in an in-memory vector store."""
    return [
        node(
            f"{node_id}_text",
            "plainText",
            {
                "text": text,
                "metadata": json.dumps({"source": source}),
                "textSplitter": ref("split_0"),
            },
        ),
        node(f"{node_id}_embed", "openAIEmbeddings", {"modelName": "mock-embed"}),
        node(
            node_id,
            "memoryVectorStore",
            {
                "document": [ref(f"{node_id}_text")],
                "embeddings": ref(f"{node_id}_embed"),
                "topK": 1,
            },
        ),
    ]


SPLIT = node(
    "split_0", "characterTextSplitter", {"chunkSize": 40, "chunkOverlap": 0, "separator": "\n\n"}
)


def test_multi_prompt_chain_routes_to_a_prompt(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    flow = flow_of(
        [
            node("llm_0", "chatOpenAI", {"modelName": "mock?tokens=2"}),
            node(
                "p_math",
                "promptRetriever",
                {"name": "math", "description": "sums", "systemMessage": "You do maths."},
            ),
            node(
                "p_hist",
                "promptRetriever",
                {
                    "name": "history",
                    "description": "the past",
                    "systemMessage": "You are a historian.",
                },
            ),
            node(
                "chain_0",
                "multiPromptChain",
                {"model": ref("llm_0"), "promptRetriever": [ref("p_math"), ref("p_hist")]},
            ),
        ]
    )
    canvas = make_canvas(server.url, flow)
    events = stream(
        client,
        canvas["id"],
        {"question": "2+2?", "overrideConfig": {"returnIntermediateSteps": True}},
    )
    [router] = [e["data"] for e in events if e["event"] == "step"]
    assert router["output"] == "math"  # the mock picks the first of the schema's choices
    assert tokens(events) == "word0 word1"
    requests = httpx.get(f"{upstream}/requests").json()
    assert '"enum":["math","history","DEFAULT"]' in requests[-2]["messages"][-1]["content"]
    assert requests[-1]["messages"] == [
        {"role": "system", "content": "You do maths."},
        {"role": "user", "content": "2+2?"},
    ]


def test_multi_retrieval_and_vector_db_qa_chains(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    flow = flow_of(
        [
            SPLIT,
            node("llm_0", "chatOpenAI", {"modelName": "mock?tokens=2"}),
            *store_of("vs_a", TEXT, "capitals"),
            *store_of("vs_b", "Cats sleep a lot.\n\nDogs bark.", "pets"),
            node(
                "r_a",
                "vectorStoreRetriever",
                {"vectorStore": ref("vs_a"), "name": "capitals", "description": "cities"},
            ),
            node(
                "r_b",
                "vectorStoreRetriever",
                {"vectorStore": ref("vs_b"), "name": "pets", "description": "animals"},
            ),
            node(
                "chain_0",
                "multiRetrievalQAChain",
                {
                    "model": ref("llm_0"),
                    "vectorStoreRetriever": [ref("r_a"), ref("r_b")],
                    "returnSourceDocuments": True,
                },
            ),
        ]
    )
    canvas = make_canvas(server.url, flow)
    body = predict(client, canvas["id"], {"question": "capital of Germany"})
    assert body["text"] == "word0 word1"
    assert body["sourceDocuments"][0]["metadata"]["source"] == "capitals"
    system = httpx.get(f"{upstream}/requests").json()[-1]["messages"][0]["content"]
    assert "Berlin is the capital of Germany." in system
    qa = flow_of(
        [
            SPLIT,
            node("llm_0", "chatOpenAI", {"modelName": "mock?tokens=2"}),
            *store_of("vs_b", "Cats sleep a lot.\n\nDogs bark.", "pets"),
            node("chain_0", "vectorDBQAChain", {"model": ref("llm_0"), "vectorStore": ref("vs_b")}),
        ]
    )
    canvas = make_canvas(server.url, qa)
    assert predict(client, canvas["id"], {"question": "Do dogs bark?"})["text"] == "word0 word1"
    system = httpx.get(f"{upstream}/requests").json()[-1]["messages"][0]["content"]
    assert "Dogs bark." in system


def retriever_chain(retriever: dict[str, Any], *extra: dict[str, Any]) -> dict[str, Any]:
    return flow_of(
        [
            node(
                "text_0",
                "plainText",
                {
                    "text": "Berlin has a big zoo.\n\nParis has the Louvre museum.\n\n"
                    "Rome has the Colosseum.",
                    "textSplitter": ref("split_0"),
                },
            ),
            SPLIT,
            node("bm25_0", "bm25Retriever", {"document": [ref("text_0")], "topK": 3}),
            node("embed_0", "openAIEmbeddings", {"modelName": "mock-embed"}),
            *extra,
            retriever,
            node("llm_0", "chatOpenAI", {"modelName": "mock?tokens=2"}),
            node(
                "chain_0",
                "conversationalRetrievalQAChain",
                {
                    "model": ref("llm_0"),
                    "vectorStoreRetriever": ref(retriever["id"]),
                    "returnSourceDocuments": True,
                },
            ),
        ]
    )


def test_cohere_rerank_and_filter_retrievers(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    question = "Which museum does Paris have, the Louvre?"
    rerank = node("rr_0", "cohereRerankRetriever", {"baseRetriever": ref("bm25_0"), "topK": 1})
    body = predict(
        client, make_canvas(server.url, retriever_chain(rerank))["id"], {"question": question}
    )
    [doc] = body["sourceDocuments"]
    assert doc["pageContent"] == "Paris has the Louvre museum."
    assert doc["metadata"]["relevance_score"] > 0
    sent = seen(upstream, "cohere")[-1]
    assert sent["_key"] == "Bearer cohere-key" and sent["body"]["top_n"] == 1
    llm_filter = node(
        "f_0", "llmFilterRetriever", {"baseRetriever": ref("bm25_0"), "model": ref("llm_0")}
    )
    body = predict(
        client, make_canvas(server.url, retriever_chain(llm_filter))["id"], {"question": question}
    )
    assert [d["pageContent"] for d in body["sourceDocuments"]] == ["Paris has the Louvre museum."]
    emb = node(
        "e_0",
        "embeddingsFilterRetriever",
        {"baseRetriever": ref("bm25_0"), "embeddings": ref("embed_0"), "similarityThreshold": 0.2},
    )
    body = predict(
        client, make_canvas(server.url, retriever_chain(emb))["id"], {"question": question}
    )
    assert [d["pageContent"] for d in body["sourceDocuments"]] == ["Paris has the Louvre museum."]


def test_conversation_summary_buffer_memory(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    flow = flow_of(
        [
            node("llm_0", "chatOpenAI", {"modelName": "mock?tokens=2"}),
            node(
                "mem_0",
                "conversationSummaryBufferMemory",
                {"model": ref("llm_0"), "maxTokenLimit": 10},
            ),
            node(
                "chain_0",
                "conversationChain",
                {"model": ref("llm_0"), "memory": ref("mem_0"), "systemMessagePrompt": "Be brief."},
            ),
        ]
    )
    canvas = make_canvas(server.url, flow)
    for q in ("echo: my name is Ann", "echo: I live in Rome and like long walks", "and now?"):
        body = predict(client, canvas["id"], {"question": q, "chatId": "sb1"})
    assert body["text"] == "word0 word1"
    messages = httpx.get(f"{upstream}/requests").json()[-1]["messages"]
    # the older exchange was summarised; the latest one kept as it was, within the limit
    assert messages[1]["content"] == "Summary of the conversation so far: word0 word1"
    assert messages[2:] == [
        {"role": "assistant", "content": "I live in Rome and like long walks"},
        {"role": "user", "content": "and now?"},
    ]


# -- web pages --------------------------------------------------------------------------------


def scraper_chain(inputs: dict[str, Any]) -> dict[str, Any]:
    return flow_of(
        [
            node("web_0", "cheerioWebScraper", inputs),
            node("bm25_0", "bm25Retriever", {"document": [ref("web_0")], "topK": 5}),
            node("llm_0", "chatOpenAI", {"modelName": "mock?tokens=2"}),
            node(
                "chain_0",
                "conversationalRetrievalQAChain",
                {
                    "model": ref("llm_0"),
                    "vectorStoreRetriever": ref("bm25_0"),
                    "returnSourceDocuments": True,
                },
            ),
        ]
    )


def test_cheerio_scraper_crawls_a_site(server: Proc, client: httpx.Client, upstream: str) -> None:
    crawl = scraper_chain(
        {"url": f"{upstream}/web/index.html", "relativeLinksMethod": "webCrawl", "selector": "main"}
    )
    canvas = make_canvas(server.url, crawl)
    body = predict(client, canvas["id"], {"question": "welcome alpha beta text streams"})
    by_source = {d["metadata"]["source"].rsplit("/", 1)[1]: d for d in body["sourceDocuments"]}
    assert set(by_source) == {"index.html", "a.html", "b.html"}  # same site only, each once
    assert by_source["index.html"]["pageContent"] == "Welcome\nCanvasflow streams answers."
    assert by_source["a.html"]["metadata"]["title"] == "Page A"
    sitemap = scraper_chain(
        {
            "url": f"{upstream}/web/sitemap.xml",
            "relativeLinksMethod": "scrapeXMLSitemap",
            "limit": 1,
        }
    )
    body = predict(client, make_canvas(server.url, sitemap)["id"], {"question": "beta text"})
    assert [d["metadata"]["source"].rsplit("/", 1)[1] for d in body["sourceDocuments"]] == [
        "b.html"
    ]
    far = scraper_chain({"url": "http://169.254.169.254/latest/meta-data/"})
    r = client.post(
        f"/api/v1/prediction/{make_canvas(server.url, far)['id']}", json={"question": "q"}
    )
    assert r.status_code == 422 and "not allowed" in r.text


def test_web_browser_tool_reads_a_page(server: Proc, client: httpx.Client, upstream: str) -> None:
    flow = flow_of(
        [
            node("llm_1", "chatOpenAI", {"modelName": "mock?tokens=3"}),
            node("embed_0", "openAIEmbeddings", {"modelName": "mock-embed"}),
            node("browser_0", "webBrowser", {"model": ref("llm_1"), "embeddings": ref("embed_0")}),
            node("mem_0", "bufferMemory", {}),
            node("chatOpenAI_0", "chatOpenAI", {"modelName": "mock"}),
            node(
                "agent_0",
                "toolAgent",
                {"tools": [ref("browser_0")], "memory": ref("mem_0"), "model": ref("chatOpenAI_0")},
            ),
        ]
    )
    canvas = make_canvas(server.url, flow)
    page = f"{upstream}/web/index.html"
    question = f'tool: web-browser {{"input": "{page},what does it stream"}}'
    body = predict(client, canvas["id"], {"question": question})
    output = body["usedTools"][0]["toolOutput"]
    assert output.startswith("word0 word1 word2")
    assert "Relevant links:\nhttps://elsewhere.example/x" in output
    prompts = [
        r["messages"][-1]["content"]
        for r in httpx.get(f"{upstream}/requests").json()
        if "messages" in r
    ]
    read = next(p for p in reversed(prompts) if p.startswith("Text:"))
    assert "Canvasflow streams answers." in read and "I need what does it stream." in read
    assert "secret" not in read  # scripts are not text
    body = predict(
        client, canvas["id"], {"question": 'tool: web-browser {"input": "http://10.0.0.1/,x"}'}
    )
    assert "not allowed" in body["usedTools"][0]["toolOutput"]


# -- API chains ---------------------------------------------------------------------------------


def api_chain(kind: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return flow_of(
        [
            node("llm_0", "chatOpenAI", {"modelName": "mock"}),
            node(
                "chain_0",
                kind,
                {"model": ref("llm_0"), "apiDocs": "GET /openapi/pets/{id}", **(extra or {})},
            ),
        ]
    )


def test_get_and_post_api_chains(server: Proc, client: httpx.Client, upstream: str) -> None:
    canvas = make_canvas(server.url, api_chain("getApiChain", {"headers": '{"x-api-key": "k1"}'}))
    events = stream(
        client,
        canvas["id"],
        {
            "question": f"Who is pet 3? api: {upstream}/openapi/pets/3",
            "overrideConfig": {"returnIntermediateSteps": True},
        },
    )
    [api] = [e["data"] for e in events if e["event"] == "step"]
    assert api["input"] == f"{upstream}/openapi/pets/3"
    assert json.loads(api["output"]) == {"id": "3", "name": "Rex"}
    assert tokens(events) == 'The answer is {"id":"3","name":"Rex"}'
    assert seen(upstream, "pets")[-1]["_key"] == "k1"
    canvas = make_canvas(server.url, api_chain("postApiChain"))
    request = json.dumps({"url": f"{upstream}/openapi/pets", "data": {"name": "Bo"}})
    body = predict(client, canvas["id"], {"question": f"Add Bo api: {request}"})
    assert body["text"] == 'The answer is {"created":{"name":"Bo"}}'
    assert seen(upstream, "pets")[-1]["body"] == {"name": "Bo"}
    canvas = make_canvas(server.url, api_chain("getApiChain"))
    r = client.post(
        f"/api/v1/prediction/{canvas['id']}",
        json={"question": "steal api: http://169.254.169.254/latest/meta-data/"},
    )
    assert r.status_code >= 400 and "not allowed" in r.text


def test_openapi_chain_calls_operations_as_tools(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    flow = flow_of(
        [
            node("llm_0", "chatOpenAI", {"modelName": "mock"}),
            node(
                "chain_0",
                "openApiChain",
                {"model": ref("llm_0"), "yamlLink": f"{upstream}/openapi/spec.yaml"},
            ),
        ]
    )
    canvas = make_canvas(server.url, flow)
    body = predict(client, canvas["id"], {"question": 'tool: getPet {"petId": "5"}'})
    assert body["text"] == 'The answer is {"id":"5","name":"Rex"}'


def kept_flow(store: dict[str, Any]) -> dict[str, Any]:
    """The capitals, split in two, in the given vector store (``store_0``), answered by a
    conversational retrieval chain that returns its sources."""
    return flow_of(
        [
            SPLIT,
            node(
                "text_0",
                "plainText",
                {
                    "text": TEXT,
                    "metadata": '{"source": "capitals"}',
                    "textSplitter": ref("split_0"),
                },
            ),
            node("embed_0", "openAIEmbeddings", {"modelName": "mock-embed"}),
            store,
            node("llm_0", "chatOpenAI", {"modelName": "mock?tokens=2"}),
            node(
                "chain_0",
                "conversationalRetrievalQAChain",
                {
                    "model": ref("llm_0"),
                    "vectorStoreRetriever": ref("store_0"),
                    "returnSourceDocuments": True,
                },
            ),
        ]
    )


def sources(client: httpx.Client, server: Proc, flow: dict[str, Any], question: str) -> list[str]:
    canvas = make_canvas(server.url, flow)
    body = predict(client, canvas["id"], {"question": question})
    return [d["pageContent"] for d in body["sourceDocuments"]]


def upsert(client: httpx.Client, server: Proc, flow: dict[str, Any]) -> dict[str, Any]:
    canvas = make_canvas(server.url, flow)
    r = client.post(f"/api/v1/vector/upsert/{canvas['id']}", json={})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


# -- Qdrant ------------------------------------------------------------------------------------


def test_qdrant_local_mode_upserts_and_filters(server: Proc, client: httpx.Client) -> None:
    store = {"embeddings": ref("embed_0"), "document": [ref("text_0")], "topK": 1}
    qdrant = node("store_0", "qdrant", {**store, "qdrantCollection": "capitals"})
    assert upsert(client, server, kept_flow(qdrant))["numAdded"] == 2
    assert sources(client, server, kept_flow(qdrant), "capital of Germany") == [
        "Berlin is the capital of Germany."
    ]
    assert (Path(server.data_dir) / "qdrant").is_dir()  # type: ignore[attr-defined]
    chunk_0 = '{"must": [{"key": "metadata.chunk", "match": {"value": 0}}]}'
    qdrant["data"]["inputs"]["qdrantFilter"] = chunk_0  # France, even asked about Germany
    assert sources(client, server, kept_flow(qdrant), "capital of Germany") == [
        "Paris is the capital of France."
    ]
    qdrant["data"]["inputs"]["qdrantServerUrl"] = "http://qdrant.example.com:6333"
    canvas = make_canvas(server.url, kept_flow(qdrant))
    r = client.post(f"/api/v1/prediction/{canvas['id']}", json={"question": "q"})
    assert r.status_code == 422 and "not allowed" in r.text


def test_chroma_embedded_upserts_and_filters(server: Proc, client: httpx.Client) -> None:
    store = {"embeddings": ref("embed_0"), "document": [ref("text_0")], "topK": 1}
    chroma = node("store_0", "chroma", {**store, "collectionName": "capitals"})
    assert upsert(client, server, kept_flow(chroma))["numAdded"] == 2
    assert sources(client, server, kept_flow(chroma), "capital of Germany") == [
        "Berlin is the capital of Germany."
    ]
    assert (Path(server.data_dir) / "chroma").is_dir()  # type: ignore[attr-defined]
    chroma["data"]["inputs"]["chromaMetadataFilter"] = '{"chunk": 0}'
    canvas = make_canvas(server.url, kept_flow(chroma))
    body = predict(client, canvas["id"], {"question": "capital of Germany"})
    assert [(d["pageContent"], d["metadata"]) for d in body["sourceDocuments"]] == [
        ("Paris is the capital of France.", {"source": "capitals", "chunk": 0})
    ]


def test_postgres_vector_store(server: Proc, client: httpx.Client) -> None:
    import subprocess
    from urllib.parse import urlsplit

    from tests.support import create_pg_database, drop_pg_database

    url = create_pg_database()
    try:
        db = urlsplit(url)
        where = {"host": db.hostname, "port": db.port, "database": db.path.lstrip("/")}
        store = {"embeddings": ref("embed_0"), "document": [ref("text_0")], "topK": 1}
        pg = node("store_0", "postgres", {**store, **where, "tableName": "capitals"})
        assert upsert(client, server, kept_flow(pg))["numAdded"] == 2
        assert sources(client, server, kept_flow(pg), "capital of Germany") == [
            "Berlin is the capital of Germany."
        ]
        pg["data"]["inputs"]["pgMetadataFilter"] = '{"chunk": 0}'
        assert sources(client, server, kept_flow(pg), "capital of Germany") == [
            "Paris is the capital of France."
        ]
        rows = subprocess.run(
            ["psql", url, "-Atc", "select count(*) from capitals"], capture_output=True, text=True
        )
        assert rows.stdout.strip() == "2"  # upserted twice, stored once
    finally:
        drop_pg_database(url)


def test_a_node_canvasflow_lacks_names_a_sensible_stand_in() -> None:
    from canvasflow.engine.catalog import closest_supported, explain_unknown

    # an OpenAI-compatible provider: the custom OpenAI node reaches it
    assert (
        closest_supported("chatTogetherAI", "Chat Models", ["BaseChatModel"]) == "chatOpenAICustom"
    )
    assert closest_supported("chatOllama_LlamaIndex", "Chat Models") == "chatOpenAI_LlamaIndex"
    assert closest_supported("JinaRerankRetriever", "Retrievers") == "cohereRerankRetriever"
    assert closest_supported("searchAPI", "Tools", ["SearchAPI", "Tool"]) in {
        "serpAPI",
        "braveSearchAPI",
        "tavilyAPI",
        "serper",
        "googleCustomSearch",
    }
    # nothing of that kind: no random suggestion
    message = explain_unknown("n1", "Neo4j")  # (slackMCP, the example before, is supported now)
    assert "not supported" in message and "no node of this kind yet" in message
    assert "closest" not in explain_unknown("n1", "momentoCache")


def data_url(text: str, mime: str, name: str) -> str:
    import base64

    return f"data:{mime};base64,{base64.b64encode(text.encode()).decode()},filename:{name}"


# what the marketplace drafts lack (a file, an index name, a database), as a user fills it
FILLED = {
    "CSV Agent": {"csvAgent_0": {"csvFile": data_url("a,b\n1,2\n", "text/csv", "t.csv")}},
    "Context Chat Engine": {
        "textFile_0": {"txtFile": data_url(TEXT, "text/plain", "capitals.txt")},
        "pineconeLlamaIndex_0": {"pineconeIndex": "marketplace"},
    },
    "Query Engine": {"pineconeLlamaIndex_0": {"pineconeIndex": "marketplace"}},
    "SQL DB Chain": {"sqlDatabaseChain_0": {"url": "shop.sqlite"}},
}


@pytest.mark.parametrize("template", sorted(FILLED))
def test_marketplace_drafts_answer_once_filled_in(
    server: Proc, client: httpx.Client, template: str
) -> None:
    doc = json.loads((MARKETPLACE / f"{template}.json").read_text())
    for raw in doc["nodes"]:
        raw["data"]["inputs"].update(FILLED[template].get(raw["id"], {}))
    r = client.post("/api/v1/canvases/import", json=doc)
    assert r.status_code == 201, r.text
    assert [p for p in r.json()["problems"] if p["level"] == "error"] == []
    body = predict(client, r.json()["id"], {"question": "What is in there?", "chatId": template})
    assert body["text"]
    events = stream(client, r.json()["id"], {"question": "And more?", "chatId": template})
    assert events[-1]["event"] == "end" and not [e for e in events if e["event"] == "error"]


def test_anthropic_model_calls_tools(server: Proc, client: httpx.Client, upstream: str) -> None:
    """Claude drives the tool agent: tools offered in Anthropic's shape, its tool_use
    blocks run, their results sent back as tool_result blocks."""
    flow = flow_of(
        [
            node("calculator_0", "calculator", {}),
            node("mem_0", "bufferMemory", {}),
            node("claude_0", "chatAnthropic", {"modelName": "claude-test"}),
            node(
                "agent_0",
                "toolAgent",
                {"tools": [ref("calculator_0")], "memory": ref("mem_0"), "model": ref("claude_0")},
            ),
        ]
    )
    canvas = make_canvas(server.url, flow)
    events = stream(client, canvas["id"], {"question": 'tool: calculator {"input": "6*7"}'})
    assert tokens(events) == "The answer is 42"
    last = httpx.get(f"{upstream}/requests").json()[-1]
    assert last["tools"][0]["name"] == "calculator" and "input_schema" in last["tools"][0]
    assert last["messages"][-2]["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "calculator", "input": {"input": "6*7"}}
    ]
    assert last["messages"][-1]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}
    ]


def test_marketplace_openapi_agent_answers_with_claude(
    server: Proc, client: httpx.Client, upstream: str
) -> None:
    from tests.mock_services import PETS_SPEC

    spec = PETS_SPEC.replace("url: /openapi", f"url: {upstream}/openapi")
    doc = json.loads((MARKETPLACE / "OpenAPI YAML Agent.json").read_text())
    for raw in doc["nodes"]:
        if raw["id"] == "openAPIToolkit_0":
            raw["data"]["inputs"]["openApiFile"] = data_url(spec, "application/yaml", "pets.yaml")
    r = client.post("/api/v1/canvases/import", json=doc)
    assert [p for p in r.json()["problems"] if p["level"] == "error"] == []
    body = predict(client, r.json()["id"], {"question": 'tool: getPet {"petId": "9"}'})
    assert body["text"] == 'The answer is {"id":"9","name":"Rex"}'


# nodes that need a service other than an OpenAI-compatible model (or files, or a key)
OTHER_SERVICES = {
    "chatAnthropic",
    "chatAnthropic_LlamaIndex",
    "azureChatOpenAI",
    "azureChatOpenAI_LlamaIndex",
    "chatMistralAI",
    "chatOllama",
    "localAIEmbeddings",
    "serpAPI",
    "serper",
    "googleCustomSearch",
    "replicate",
    "huggingFaceInference_LLMs",
    "pinecone",
    "pineconeLlamaIndex",
    "RedisBackedChatMemory",
    "github",
    "openAIAssistant",
}


def test_with_only_an_openai_compatible_model_every_template_needing_nothing_else_answers(
    upstream: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    blank = {
        key: ""
        for key in (
            "ANTHROPIC_API_KEY",
            "SERPAPI_API_KEY",
            "SERPER_API_KEY",
            "GOOGLE_API_KEY",
            "GOOGLE_CSE_ID",
            "BRAVE_SEARCH_API_KEY",
            "TAVILY_API_KEY",
            "REPLICATE_API_TOKEN",
            "HUGGINGFACEHUB_API_KEY",
            "PINECONE_API_KEY",
            "GITHUB_TOKEN",
            "COHERE_API_KEY",
        )
    }
    proc = canvasflow_server(tmp_path_factory.mktemp("openai-only"), upstream, blank).start()
    try:
        with httpx.Client(base_url=proc.url, timeout=60) as c:
            needs_nothing_else, answered, refused = [], [], {}
            for path in sorted(MARKETPLACE.glob("*.json")):
                doc = json.loads(path.read_text())
                names = {n["data"]["name"] for n in doc["nodes"]}
                r = c.post("/api/v1/canvases/import", json=doc)
                if [p for p in r.json()["problems"] if p["level"] == "error"]:
                    continue  # a draft: an empty file or input
                if not names & OTHER_SERVICES:
                    needs_nothing_else.append(path.stem)
                answer = c.post(f"/api/v1/prediction/{r.json()['id']}", json={"question": "Hi"})
                if answer.status_code == 200:
                    answered.append(path.stem)
                else:
                    refused[path.stem] = (answer.status_code, answer.json()["message"])
        assert needs_nothing_else and set(needs_nothing_else) <= set(answered), refused
        # the others say what they lack, never an internal error
        for name, (status, message) in refused.items():
            assert status != 500 or "Error:" not in message, (name, message)
            assert any(w in message for w in ("key", "credential", "401", "Azure", "Redis")), (
                name,
                message,
            )
        print(f"\nopenai only: {len(answered)} answer; refused: {refused}")
    finally:
        proc.stop()


def test_web_scraper_and_arxiv_tools(server: Proc, client: httpx.Client, upstream: str) -> None:
    scraper = agent(node("webScraperTool_0", "webScraperTool", {"maxDepth": 1, "maxPages": 2}))
    canvas = make_canvas(server.url, scraper)
    body = predict(
        client,
        canvas["id"],
        {"question": f'tool: web_scraper {{"url": "{upstream}/web/index.html"}}'},
    )
    output = body["usedTools"][0]["toolOutput"]
    assert output.startswith(f"URL: {upstream}/web/index.html\nTitle: Home\n")
    assert "Alpha text." in output and "Beta text." not in output  # two pages at most
    body = predict(
        client, canvas["id"], {"question": 'tool: web_scraper {"url": "http://10.1.1.1/"}'}
    )
    assert "not allowed" in body["usedTools"][0]["toolOutput"]
    arxiv = agent(node("arxiv_0", "arxiv", {"topKResults": 2}))
    canvas = make_canvas(server.url, arxiv)
    body = predict(client, canvas["id"], {"question": 'tool: arxiv_search {"query": "graphs"}'})
    output = body["usedTools"][0]["toolOutput"]
    assert (
        "Title: Paper 1 on graphs\nAuthors: A. Author1\nURL: http://arxiv.org/abs/2401.00001"
        in output
    )
    assert seen(upstream, "arxiv")[-1] == {
        "_service": "arxiv",
        "_key": None,
        "_path": "/arxiv/api/query",
        "query": "all:graphs",
        "max_results": "2",
    }


def test_agentflow_templates_with_these_tools_are_ready(client: httpx.Client) -> None:
    folder = MARKETPLACE.parent / "agentflowsv2"
    for name in (
        "Deep Research With Subagents",
        "Deep Research With Multi-turn Conversations",
        "Agents Handoff",
    ):
        r = client.post(
            "/api/v1/canvases/import", json=json.loads((folder / f"{name}.json").read_text())
        )
        assert [p["message"] for p in r.json()["problems"] if p["level"] == "error"] == [], name
