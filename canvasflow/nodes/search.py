"""Web tools. Search on the engines' real HTTP APIs (SerpAPI, Serper, Google Custom
Search, Brave Search, Tavily): each gives an agent one tool taking a query (``input``)
and answering the top results as text. The web browser reads a page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from canvasflow.errors import CanvasInvalid
from canvasflow.nodes import services
from canvasflow.nodes.base import Input, Node, register, to_bool, to_int
from canvasflow.nodes.chat_models import credential_value
from canvasflow.nodes.services import Service, ServiceError, call, service_key, service_url
from canvasflow.nodes.tools import Tool, ToolError

if TYPE_CHECKING:
    from canvasflow.engine.context import RunContext

QUERY = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "the search query"}},
    "required": ["input"],
}


def results_text(rows: list[dict[str, Any]], answer: str | None = None, top: int = 5) -> str:
    """Search results as an agent reads them: an answer when the engine gave one, then
    title, address and snippet of each result."""
    parts = [f"Answer: {answer}"] if answer else []
    for row in rows[:top]:
        parts.append("\n".join(str(v) for v in row.values() if v))
    return "\n\n".join(parts) or "No results."


def rows_of(items: Any, link: str = "link", snippet: str = "snippet") -> list[dict[str, Any]]:
    """An engine's results as title, address and snippet (each engine names them)."""
    return [
        {"title": r.get("title"), "link": r.get(link), "snippet": r.get(snippet)}
        for r in items or []
        if isinstance(r, dict)
    ]


class SearchTool(Tool):
    """One search engine as a tool; subclasses send the query and read the results."""

    parameters: ClassVar[dict[str, Any]] = QUERY

    def __init__(self, base: str, key: str, options: dict[str, Any]) -> None:
        self.base = base
        self.key = key
        self.options = options

    async def call(self, args: dict[str, Any]) -> str:
        query = str(args.get("input") or args.get("query") or "").strip()
        if not query:
            raise ToolError("an empty search query")
        try:
            return await self.search(query)
        except ServiceError as exc:
            raise ToolError(str(exc)) from None

    async def search(self, query: str) -> str:
        raise NotImplementedError


class SerpAPITool(SearchTool):
    name = "search"
    description = (
        "A search engine. Useful for when you need to answer questions about current "
        "events. Input should be a search query."
    )

    async def search(self, query: str) -> str:
        data = await call(
            "GET",
            f"{self.base}/search",
            what="SerpAPI",
            params={"q": query, "api_key": self.key, "engine": "google"},
        )
        box = data.get("answer_box") or {}
        answer = box.get("answer") or box.get("snippet") or None
        rows = rows_of(data.get("organic_results") or [])
        return results_text(rows, answer)


class SerperTool(SearchTool):
    name = "search"
    description = (
        "A low-cost Google Search API. Useful for when you need to answer questions about "
        "current events. Input should be a search query."
    )

    async def search(self, query: str) -> str:
        data = await call(
            "POST",
            f"{self.base}/search",
            what="Serper",
            json={"q": query},
            headers={"X-API-KEY": self.key},
        )
        box = data.get("answerBox") or {}
        answer = box.get("answer") or box.get("snippet") or None
        rows = rows_of(data.get("organic") or [])
        return results_text(rows, answer)


class GoogleSearchTool(SearchTool):
    name = "google-custom-search"
    description = (
        "A custom search engine. Useful for when you need to answer questions about "
        "current events. Input should be a search query."
    )

    async def search(self, query: str) -> str:
        data = await call(
            "GET",
            f"{self.base}/customsearch/v1",
            what="Google Custom Search",
            params={"key": self.key, "cx": self.options["cx"], "q": query},
        )
        rows = rows_of(data.get("items") or [])
        return results_text(rows)


class BraveSearchTool(SearchTool):
    name = "brave-search"
    description = (
        "A search engine. Useful for when you need to answer questions about current "
        "events. Input should be a search query."
    )

    async def search(self, query: str) -> str:
        data = await call(
            "GET",
            f"{self.base}/res/v1/web/search",
            what="Brave Search",
            params={"q": query, "count": 5},
            headers={"X-Subscription-Token": self.key, "Accept": "application/json"},
        )
        rows = rows_of((data.get("web") or {}).get("results") or [], "url", "description")
        return results_text(rows)


class TavilyTool(SearchTool):
    name = "tavily_search_results_json"
    description = (
        "A search engine optimized for comprehensive, accurate, and trusted results. "
        "Input should be a search query."
    )

    async def search(self, query: str) -> str:
        body = {"query": query, **self.options}
        data = await call(
            "POST",
            f"{self.base}/search",
            what="Tavily",
            json=body,
            headers={"Authorization": f"Bearer {self.key}"},
        )
        rows = rows_of(data.get("results") or [], "url", "content")
        return results_text(rows, data.get("answer") or None, top=len(rows))


class _SearchNode(Node):
    category = "Tools"
    service: ClassVar[Service]
    tool: ClassVar[type[SearchTool]]
    credential_kind: ClassVar[str]
    inputs: ClassVar[tuple[Input, ...]] = (Input("credential", "credential", optional=True),)

    def options(self, ctx: RunContext) -> dict[str, Any]:
        return {}

    async def key(self, ctx: RunContext) -> str:
        key = await service_key(ctx, self, self.service)
        if not key:
            raise CanvasInvalid(
                f"node {self.id} ({self.name}) has no key: give it a {self.credential_kind} "
                f"credential, or set {self.service.key_env} on the server",
                code="credential_missing",
            )
        return key

    async def build(self, ctx: RunContext) -> Tool:
        key = await self.key(ctx)
        return self.tool(service_url(ctx.settings, self.service), key, self.options(ctx))


@register
class SerpAPI(_SearchNode):
    name = "serpAPI"
    label = "Serp API"
    description = "Wrapper around SerpAPI - a real-time API to access Google search results"
    base_classes = ("SerpAPI", "Tool", "StructuredTool", "Runnable")
    service = services.SERPAPI
    tool = SerpAPITool
    credential_kind = "serpApi"


@register
class Serper(_SearchNode):
    name = "serper"
    label = "Serper"
    description = "Wrapper around Serper.dev - Google Search API"
    base_classes = ("Serper", "Tool", "StructuredTool", "Runnable")
    service = services.SERPER
    tool = SerperTool
    credential_kind = "serperApi"


@register
class GoogleCustomSearch(_SearchNode):
    name = "googleCustomSearch"
    label = "Google Custom Search"
    description = "Wrapper around Google Custom Search API"
    base_classes = ("GoogleCustomSearchAPI", "Tool", "StructuredTool", "Runnable")
    service = services.GOOGLE_SEARCH
    tool = GoogleSearchTool
    credential_kind = "googleCustomSearchApi"

    async def build(self, ctx: RunContext) -> Tool:
        key = await self.key(ctx)
        cx = await credential_value(ctx, self.get("credential"), "googleCustomSearchApiId")
        cx = cx or ctx.settings.google_cse_id  # else the server's search engine id
        if not cx:
            raise CanvasInvalid(
                f"node {self.id} (googleCustomSearch) has no search engine id: give it a "
                "googleCustomSearchApi credential, or set GOOGLE_CSE_ID on the server",
                code="credential_missing",
            )
        return GoogleSearchTool(service_url(ctx.settings, self.service), key, {"cx": cx})


@register
class BraveSearchAPI(_SearchNode):
    name = "braveSearchAPI"
    label = "BraveSearch API"
    description = "Wrapper around BraveSearch API - a real-time API to access Brave search results"
    base_classes = ("BraveSearchAPI", "Tool", "StructuredTool", "Runnable")
    service = services.BRAVE
    tool = BraveSearchTool
    credential_kind = "braveSearchApi"


@register
class TavilyAPI(_SearchNode):
    name = "tavilyAPI"
    label = "Tavily API"
    description = "Search the web through Tavily: answers and results made for agents"
    base_classes = ("TavilyAPI", "Tool", "StructuredTool", "Runnable")
    service = services.TAVILY
    tool = TavilyTool
    credential_kind = "tavilyApi"
    inputs = (
        Input("credential", "credential", optional=True),
        Input("topic", "options", optional=True, default="general"),
        Input("searchDepth", "options", optional=True, default="basic"),
        Input("chunksPerSource", "number", optional=True, default=3),
        Input("maxResults", "number", optional=True, default=5),
        Input("timeRange", "options", optional=True),
        Input("days", "number", optional=True, default=7),
        Input("includeAnswer", "boolean", optional=True, default=False),
        Input("includeRawContent", "boolean", optional=True, default=False),
        Input("includeImages", "boolean", optional=True, default=False),
        Input("includeImageDescriptions", "boolean", optional=True, default=False),
        Input("includeDomains", "string", optional=True),
        Input("excludeDomains", "string", optional=True),
    )

    def options(self, ctx: RunContext) -> dict[str, Any]:
        def domains(name: str) -> list[str]:
            return [d.strip() for d in str(self.get(name) or "").split(",") if d.strip()]

        out: dict[str, Any] = {
            "topic": str(self.get("topic")),
            "search_depth": str(self.get("searchDepth")),
            "max_results": to_int(self.get("maxResults"), 5) or 5,
            "include_answer": to_bool(self.get("includeAnswer")),
            "include_raw_content": to_bool(self.get("includeRawContent")),
            "include_images": to_bool(self.get("includeImages")),
        }
        if out["search_depth"] == "advanced":
            out["chunks_per_source"] = to_int(self.get("chunksPerSource"), 3)
        if out["topic"] == "news":
            out["days"] = to_int(self.get("days"), 7)
        if self.get("timeRange"):
            out["time_range"] = str(self.get("timeRange"))
        for name, field in (
            ("includeDomains", "include_domains"),
            ("excludeDomains", "exclude_domains"),
        ):
            if domains(name):
                out[field] = domains(name)
        return out


# -- the web browser -------------------------------------------------------------------------

BROWSE_PROMPT = """Text:
{context}

I need {task}. Answer from the text above, briefly. Then list up to 5 relevant links \
from it, if any."""
CHUNK = 2000


class WebBrowserTool(Tool):
    """Reads one page (an allowed host) and answers a task from its most relevant parts:
    the page split into chunks, the chunks nearest the task (embeddings), the model's
    summary."""

    name = "web-browser"
    description = (
        "useful for when you need to find something on or summarize a webpage. input "
        'should be a comma separated list of "ONE valid http URL including protocol",'
        '"what you want to find on the page or empty string for a summary".'
    )
    parameters: ClassVar[dict[str, Any]] = QUERY

    def __init__(self, model: Any, embedder: Any, hosts: frozenset[str]) -> None:
        self.model = model
        self.embedder = embedder
        self.hosts = hosts

    async def call(self, args: dict[str, Any]) -> str:
        import numpy as np

        from canvasflow.errors import CanvasflowError
        from canvasflow.models.base import Usage, complete
        from canvasflow.nodes.retrieval import unit_rows
        from canvasflow.nodes.web_loaders import fetch_page, page_text

        raw = str(args.get("input") or "")
        url, _, task = raw.partition(",")
        url, task = url.strip().strip("\"'"), task.strip().strip("\"'")
        if not url.startswith(("http://", "https://")):
            raise ToolError(f"not a web address: {url!r}")
        try:
            _, text, links = page_text(await fetch_page(url, self.hosts))
        except CanvasflowError as exc:
            raise ToolError(exc.message) from None
        chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
        if task and len(chunks) > 4:
            vectors = unit_rows(await self.embedder.embed([task, *chunks]))
            order = np.argsort(-(vectors[1:] @ vectors[0]))[:4]
            chunks = [chunks[int(i)] for i in sorted(order)]
        context = "\n\n".join(chunks[:4])
        prompt = BROWSE_PROMPT.replace("{context}", context).replace(
            "{task}", task or "a summary of the page"
        )
        answer = await complete(self.model, prompt, Usage())
        found = [link for link in links if link.startswith(("http://", "https://"))][:5]
        return answer + ("\n\nRelevant links:\n" + "\n".join(found) if found else "")


@register
class WebBrowser(Node):
    name = "webBrowser"
    label = "Web Browser"
    category = "Tools"
    description = "Gives an agent the ability to read a web page (allowed hosts only)"
    base_classes = ("WebBrowser", "Tool", "StructuredTool", "Runnable")
    inputs = (Input("model", "BaseLanguageModel"), Input("embeddings", "Embeddings"))

    async def build(self, ctx: RunContext) -> Tool:
        return WebBrowserTool(
            self.get("model"), self.get("embeddings"), ctx.settings.outbound_hosts
        )
