"""Mocks of the outside services nodes call, each under its own prefix of the mock
upstream (tests point ``CANVASFLOW_SERVICE_URLS`` there): the search APIs, Replicate,
Hugging Face inference, Pinecone, GitHub. Each records what it was asked (with the key
it saw) in the upstream's ``/requests`` and answers as the real API does, in the fields
canvasflow reads."""

from __future__ import annotations

import base64
import math
from collections import deque
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SEEN: deque[dict[str, Any]] = deque(maxlen=100)


def _seen(service: str, request: Request, key: str | None, **what: Any) -> None:
    SEEN.append({"_service": service, "_key": key, "_path": request.url.path, **what})


def _results(query: str) -> list[dict[str, str]]:
    return [
        {
            "title": f"Result {i} for {query}",
            "link": f"https://example.org/{i}",
            "snippet": f"mock snippet {i} about {query}",
        }
        for i in (1, 2)
    ]


async def serpapi(request: Request) -> Response:
    q = request.query_params.get("q", "")
    _seen("serpapi", request, request.query_params.get("api_key"), q=q)
    if request.query_params.get("api_key") != "serp-key":
        return JSONResponse({"error": "Invalid API key."}, status_code=401)
    return JSONResponse(
        {"answer_box": {"answer": f"the answer to {q}"}, "organic_results": _results(q)}
    )


async def serper(request: Request) -> Response:
    body = orjson.loads(await request.body())
    _seen("serper", request, request.headers.get("x-api-key"), q=body.get("q"))
    return JSONResponse({"organic": _results(str(body.get("q")))})


async def google_search(request: Request) -> Response:
    p = request.query_params
    _seen("google_search", request, p.get("key"), q=p.get("q"), cx=p.get("cx"))
    return JSONResponse({"items": _results(p.get("q", ""))})


async def brave(request: Request) -> Response:
    q = request.query_params.get("q", "")
    _seen("brave", request, request.headers.get("x-subscription-token"), q=q)
    rows = [
        {"title": r["title"], "url": r["link"], "description": r["snippet"]} for r in _results(q)
    ]
    return JSONResponse({"web": {"results": rows}})


async def tavily(request: Request) -> Response:
    body = orjson.loads(await request.body())
    _seen("tavily", request, request.headers.get("authorization"), body=body)
    q = str(body.get("query"))
    rows = [{"title": r["title"], "url": r["link"], "content": r["snippet"]} for r in _results(q)]
    answer = f"the answer to {q}" if body.get("include_answer") else None
    return JSONResponse({"query": q, "answer": answer, "results": rows})


# -- Replicate: predictions created, then polled until they succeed ----------------------
PREDICTIONS: dict[str, dict[str, Any]] = {}


async def replicate_create(request: Request) -> Response:
    body = orjson.loads(await request.body())
    _seen("replicate", request, request.headers.get("authorization"), body=body)
    pid = f"p{len(PREDICTIONS) + 1}"
    prompt = str((body.get("input") or {}).get("prompt", ""))
    if str(body.get("version", "")).startswith("af1a68"):  # the template's stability-ai/sdxl
        output: Any = [f"https://replicate.delivery/mock/{pid}.png"]
    else:
        output = ["Replicate ", "says: ", prompt[-40:]]
    base = str(request.base_url).rstrip("/")
    PREDICTIONS[pid] = {
        "id": pid,
        "status": "starting",
        "output": None,
        "_output": output,
        "urls": {"get": f"{base}/replicate/v1/predictions/{pid}"},
    }
    return JSONResponse({k: v for k, v in PREDICTIONS[pid].items() if k[0] != "_"}, 201)


async def replicate_get(request: Request) -> Response:
    p = PREDICTIONS[request.path_params["pid"]]
    if p["status"] == "starting":  # answered on the second look
        p["status"] = "processing"
    else:
        p["status"], p["output"] = "succeeded", p["_output"]
    return JSONResponse({k: v for k, v in p.items() if k[0] != "_"})


async def huggingface(request: Request) -> Response:
    body = orjson.loads(await request.body())
    model = request.path_params["model"]
    _seen("huggingface", request, request.headers.get("authorization"), body=body, model=model)
    prompt = str(body.get("inputs", ""))
    return JSONResponse([{"generated_text": f"HF {model} answers: {prompt[-30:]}"}])


# -- Pinecone: a control plane naming index hosts, a data plane per index ----------------
INDEXES: dict[str, dict[str, dict[str, Any]]] = {}


async def pinecone_describe(request: Request) -> Response:
    name = request.path_params["name"]
    _seen("pinecone", request, request.headers.get("api-key"), index=name)
    if request.headers.get("api-key") != "pinecone-key":
        return JSONResponse({"error": {"message": "Invalid API Key"}}, status_code=401)
    host = f"{request.url.hostname}:{request.url.port}/pinecone/data/{name}"
    return JSONResponse({"name": name, "host": host, "dimension": 512, "metric": "cosine"})


def _ns(request: Request, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    key = f"{request.path_params['name']}/{body.get('namespace') or ''}"
    return INDEXES.setdefault(key, {})


async def pinecone_upsert(request: Request) -> Response:
    body = orjson.loads(await request.body())
    _seen("pinecone", request, request.headers.get("api-key"), count=len(body["vectors"]))
    space = _ns(request, body)
    for v in body["vectors"]:
        space[v["id"]] = v
    return JSONResponse({"upsertedCount": len(body["vectors"])})


async def pinecone_delete(request: Request) -> Response:
    body = orjson.loads(await request.body())
    _seen("pinecone", request, request.headers.get("api-key"), deleted=len(body["ids"]))
    space = _ns(request, body)
    for vector_id in body["ids"]:
        space.pop(vector_id, None)
    return JSONResponse({})


def _cos(a: list[float], b: list[float]) -> float:
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(x * x for x in b)) or 1.0
    return sum(x * y for x, y in zip(a, b, strict=False)) / (na * nb)


async def pinecone_query(request: Request) -> Response:
    body = orjson.loads(await request.body())
    _seen("pinecone", request, request.headers.get("api-key"), topK=body.get("topK"))
    wanted = body.get("filter") or {}
    rows = [
        v
        for v in _ns(request, body).values()
        if all((v.get("metadata") or {}).get(k) == want for k, want in wanted.items())
    ]
    scored = sorted(rows, key=lambda v: -_cos(v["values"], body["vector"]))
    matches = [
        {"id": v["id"], "score": _cos(v["values"], body["vector"]), "metadata": v.get("metadata")}
        for v in scored[: int(body.get("topK", 4))]
    ]
    return JSONResponse({"matches": matches, "namespace": body.get("namespace", "")})


# -- GitHub: a repository's tree and its files ------------------------------------------
REPO = {
    "README.md": "# Mock repo\n\nThe mock repository explains flowcharts and canvases.",
    "docs/guide.md": "Canvases stream answers token by token as server-sent events.",
    "docs/logo.png": "\x89PNG not text",
    "src/app.py": "print('hello')\n",
}


async def github_tree(request: Request) -> Response:
    _seen("github", request, request.headers.get("authorization"))
    if request.path_params["repo"] == "missing":
        return JSONResponse({"message": "Not Found"}, status_code=404)
    tree = [{"path": p, "type": "blob", "size": len(t)} for p, t in REPO.items()]
    tree.insert(0, {"path": "docs", "type": "tree"})
    return JSONResponse({"sha": "abc", "tree": tree, "truncated": False})


async def github_contents(request: Request) -> Response:
    path = request.path_params["path"]
    _seen("github", request, request.headers.get("authorization"), file=path)
    if path not in REPO:
        return JSONResponse({"message": "Not Found"}, status_code=404)
    content = base64.b64encode(REPO[path].encode()).decode()
    return JSONResponse({"path": path, "encoding": "base64", "content": content})


# -- an API described by an OpenAPI document -----------------------------------------------
PETS_SPEC = """openapi: 3.0.0
info: {title: Pets, version: "1"}
servers:
  - url: /openapi
paths:
  /pets:
    get:
      operationId: listPets
      summary: List the pets
      parameters:
        - {name: limit, in: query, schema: {type: integer}}
    post:
      operationId: createPet
      summary: Add a pet
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pet'}
  /pets/{petId}:
    get:
      operationId: getPet
      summary: One pet by its id
      parameters:
        - {name: petId, in: path, required: true, schema: {type: string}}
components:
  schemas:
    Pet:
      type: object
      properties: {name: {type: string}}
      required: [name]
"""


async def pets_spec(request: Request) -> Response:
    return Response(PETS_SPEC, media_type="application/yaml")


async def pets(request: Request) -> Response:
    body = orjson.loads(await request.body()) if request.method == "POST" else None
    _seen(
        "pets",
        request,
        request.headers.get("x-api-key"),
        body=body,
        query=dict(request.query_params),
    )
    if request.method == "POST":
        return JSONResponse({"created": body}, status_code=201)
    return JSONResponse(
        [{"id": "1", "name": "Rex"}, {"id": "2", "name": "Tom"}][
            : int(request.query_params.get("limit", 2))
        ]
    )


async def pet(request: Request) -> Response:
    _seen("pets", request, request.headers.get("x-api-key"))
    return JSONResponse({"id": request.path_params["pid"], "name": "Rex"})


def _words(text: str) -> set[str]:
    return {w.strip(".,?!").lower() for w in text.split() if len(w.strip(".,?!")) > 3}


async def cohere_rerank(request: Request) -> Response:
    """Documents ranked by how many of the query's longer words they share."""
    body = orjson.loads(await request.body())
    _seen("cohere", request, request.headers.get("authorization"), body=body)
    query = _words(body["query"])
    scored = [
        (len(query & _words(doc)) / (len(query) or 1), i) for i, doc in enumerate(body["documents"])
    ]
    scored.sort(key=lambda s: (-s[0], s[1]))
    top = scored[: int(body.get("top_n") or len(scored))]
    return JSONResponse({"results": [{"index": i, "relevance_score": score} for score, i in top]})


# -- a small web site -----------------------------------------------------------------------
PAGES = {
    "index.html": "<html><head><title>Home</title><script>var secret = 1;</script></head>"
    "<body><nav>Menu</nav><main><h1>Welcome</h1><p>Canvasflow streams answers.</p></main>"
    '<a href="a.html">A</a> <a href="/web/b.html#top">B</a> '
    '<a href="https://elsewhere.example/x">away</a></body></html>',
    "a.html": "<html><head><title>Page A</title></head><body><main>Alpha text.</main>"
    '<a href="index.html">home</a></body></html>',
    "b.html": "<html><head><title>Page B</title></head><body><main>Beta text.</main></body></html>",
}


async def web(request: Request) -> Response:
    name = request.path_params["name"]
    _seen("web", request, None, page=name)
    if name == "sitemap.xml":
        base = str(request.base_url).rstrip("/")
        locs = "".join(f"<url><loc>{base}/web/{p}</loc></url>" for p in ("b.html", "a.html"))
        return Response(f"<urlset>{locs}</urlset>", media_type="application/xml")
    if name not in PAGES:
        return Response("not found", status_code=404)
    return Response(PAGES[name], media_type="text/html")


async def arxiv(request: Request) -> Response:
    query = request.query_params.get("search_query", "")
    _seen("arxiv", request, None, query=query, max_results=request.query_params.get("max_results"))
    entries = "".join(
        f"<entry><id>http://arxiv.org/abs/2401.0000{i}</id><published>2024-01-0{i}T00:00:00Z"
        f"</published><title>Paper {i} on {query[4:]}</title><summary>We study "
        f"{query[4:]}.</summary><author><name>A. Author{i}</name></author></entry>"
        for i in (1, 2)
    )
    feed = f'<feed xmlns="http://www.w3.org/2005/Atom">{entries}</feed>'
    return Response(feed, media_type="application/atom+xml")


async def seen(request: Request) -> Response:
    return JSONResponse(list(SEEN))


ROUTES = [
    Route("/serpapi/search", serpapi),
    Route("/serper/search", serper, methods=["POST"]),
    Route("/google/customsearch/v1", google_search),
    Route("/brave/res/v1/web/search", brave),
    Route("/tavily/search", tavily, methods=["POST"]),
    Route("/replicate/v1/predictions", replicate_create, methods=["POST"]),
    Route("/replicate/v1/predictions/{pid}", replicate_get),
    Route("/huggingface/models/{model:path}", huggingface, methods=["POST"]),
    Route("/pinecone/indexes/{name}", pinecone_describe),
    Route("/pinecone/data/{name}/vectors/upsert", pinecone_upsert, methods=["POST"]),
    Route("/pinecone/data/{name}/query", pinecone_query, methods=["POST"]),
    Route("/pinecone/data/{name}/vectors/delete", pinecone_delete, methods=["POST"]),
    Route("/github/repos/{owner}/{repo}/git/trees/{branch}", github_tree),
    Route("/github/repos/{owner}/{repo}/contents/{path:path}", github_contents),
    Route("/openapi/spec.yaml", pets_spec),
    Route("/openapi/pets", pets, methods=["GET", "POST"]),
    Route("/openapi/pets/{pid}", pet),
    Route("/cohere/v2/rerank", cohere_rerank, methods=["POST"]),
    Route("/web/{name}", web),
    Route("/arxiv/api/query", arxiv),
    Route("/services/seen", seen),
]


def service_urls(upstream: str) -> dict[str, str]:
    """``CANVASFLOW_SERVICE_URLS`` for a server whose services are these mocks."""
    names = {
        "serpapi": "serpapi",
        "serper": "serper",
        "google_search": "google",
        "brave": "brave",
        "tavily": "tavily",
        "replicate": "replicate",
        "huggingface": "huggingface",
        "pinecone": "pinecone",
        "github": "github",
        "cohere": "cohere",
        "arxiv": "arxiv",
    }
    urls = {service: f"{upstream}/{prefix}" for service, prefix in names.items()}
    return {**urls, "ollama": upstream}  # its /api/tags and /api/chat are the mock's
