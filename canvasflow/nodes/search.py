"""Web tools. Search on the engines' real HTTP APIs (SerpAPI, Serper, Google Custom
Search, Brave Search, Tavily): each gives an agent one tool taking a query (``input``)
and answering the top results as text. The web browser reads a page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from canvasflow.errors import CanvasInvalid
from canvasflow.nodes import services
from canvasflow.nodes.services import (
    Service,
    ServiceError,
    call,
    required_key,
    service_field,
    service_url,
)
from canvasflow.nodes.tools import Tool, ToolError
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_bool, to_int

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

# a tool's one argument: a URL
URL_ONLY: dict[str, Any] = {
    "type": "object",
    "properties": {"url": {"type": "string", "description": "the page's URL"}},
    "required": ["url"],
}
QUERY: dict[str, Any] = {
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

    parameters = QUERY

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
    inputs: ClassVar[tuple[Input, ...]] = (Input("credential", "credential", optional=True),)

    def options(self, ctx: RunContext) -> dict[str, Any]:
        return {}

    async def build(self, ctx: RunContext) -> Tool:
        key = await required_key(ctx, self, self.service)
        return self.tool(service_url(ctx.settings, self.service), key, self.options(ctx))


@register
class SerpAPI(_SearchNode):
    name = "serpAPI"
    label = "Serp API"
    description = "Wrapper around SerpAPI - a real-time API to access Google search results"
    base_classes = ("SerpAPI", "Tool", "StructuredTool", "Runnable")
    service = services.SERPAPI
    tool = SerpAPITool


@register
class Serper(_SearchNode):
    name = "serper"
    label = "Serper"
    description = "Wrapper around Serper.dev - Google Search API"
    base_classes = ("Serper", "Tool", "StructuredTool", "Runnable")
    service = services.SERPER
    tool = SerperTool


@register
class GoogleCustomSearch(_SearchNode):
    name = "googleCustomSearch"
    label = "Google Custom Search"
    description = "Wrapper around Google Custom Search API"
    base_classes = ("GoogleCustomSearchAPI", "Tool", "StructuredTool", "Runnable")
    service = services.GOOGLE_SEARCH
    tool = GoogleSearchTool

    async def build(self, ctx: RunContext) -> Tool:
        key = await required_key(ctx, self, self.service)
        # the credential's search engine id, else the server's
        cx = await service_field(ctx, self, self.service, "googleCustomSearchApiId")
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


@register
class TavilyAPI(_SearchNode):
    name = "tavilyAPI"
    label = "Tavily API"
    description = "Search the web through Tavily: answers and results made for agents"
    base_classes = ("TavilyAPI", "Tool", "StructuredTool", "Runnable")
    service = services.TAVILY
    tool = TavilyTool
    inputs = flowise_inputs(name)

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
    parameters = QUERY

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
    inputs = flowise_inputs(name)

    async def build(self, ctx: RunContext) -> Tool:
        return WebBrowserTool(
            self.get("model"), self.get("embeddings"), ctx.settings.outbound_hosts
        )


# -- a site's pages, and arXiv -----------------------------------------------------------------


class WebScraperTool(Tool):
    """Reads a page, and with ``recursive`` the same site's pages it links to (depth and
    page count bounded), allowed hosts only; answers each page's address, title and
    text."""

    name = "web_scraper"
    description = (
        "Scrapes a web page and, recursively, the pages of the same site it links to. "
        "Input: the page's URL."
    )
    parameters = URL_ONLY
    PAGE_CHARS = 4000

    def __init__(
        self, hosts: frozenset[str], recursive: bool, depth: int, pages: int, seconds: float
    ) -> None:
        self.hosts = hosts
        self.recursive = recursive
        self.depth = depth
        self.pages = pages
        self.seconds = seconds

    async def call(self, args: dict[str, Any]) -> str:
        import asyncio

        from canvasflow.errors import CanvasflowError
        from canvasflow.nodes.web_loaders import crawl

        start = str(args.get("url") or args.get("input") or "").strip()
        if not start.startswith(("http://", "https://")):
            raise ToolError(f"not a web address: {start!r}")
        pages: list[dict[str, Any]] = []
        depth = self.depth if self.recursive else None
        try:
            await asyncio.wait_for(
                crawl([start], self.hosts, self.pages, depth, pages, skip_failed=True),
                self.seconds,
            )
        except TimeoutError:
            pass  # what was read in time
        except CanvasflowError as exc:  # the page asked for
            raise ToolError(exc.message) from None
        found = [
            f"URL: {p['metadata']['source']}\nTitle: {p['metadata']['title']}\n"
            f"{p['pageContent'][: self.PAGE_CHARS]}"
            for p in pages
        ]
        return "\n\n---\n\n".join(found) or "No page could be read."


@register
class WebScraperToolNode(Node):
    name = "webScraperTool"
    label = "Web Scraper Tool"
    category = "Tools"
    description = "Scrapes a page, or a site's linked pages, for an agent (allowed hosts only)"
    base_classes = ("Tool", "StructuredTool", "Runnable")
    inputs = flowise_inputs(
        name, Input("scrapeMode", "options", default="recursive", options=("single", "recursive"))
    )

    async def build(self, ctx: RunContext) -> Tool:
        tool = WebScraperTool(
            ctx.settings.outbound_hosts,
            str(self.get("scrapeMode")) == "recursive",
            max(0, to_int(self.get("maxDepth"), 1) or 0),
            max(1, to_int(self.get("maxPages"), 10) or 10),
            float(self.get("timeoutS") or 60),
        )
        if self.get("description"):
            tool.description = str(self.get("description"))
        return tool


ATOM = "{http://www.w3.org/2005/Atom}"


class ArxivTool(Tool):
    def __init__(self, base: str, name: str, description: str, k: int, max_query: int, chars: int):
        self.base = base
        self.name = name
        self.description = description
        self.k = k
        self.max_query = max_query
        self.chars = chars
        self.parameters = {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "keywords or an arXiv id"}},
            "required": ["query"],
        }

    async def call(self, args: dict[str, Any]) -> str:
        import xml.etree.ElementTree as ET

        from canvasflow.models.native import http

        query = str(args.get("query") or args.get("input") or "").strip()[: self.max_query]
        if not query:
            raise ToolError("an empty query")
        try:
            r = await http().get(
                f"{self.base}/api/query",
                params={"search_query": f"all:{query}", "max_results": self.k},
                timeout=30,
            )
            r.raise_for_status()
            feed = ET.fromstring(r.text)
        except Exception as exc:  # transport, status, or a feed that does not parse
            raise ToolError(f"arXiv: {exc}") from None
        papers = []
        for entry in feed.findall(f"{ATOM}entry"):

            def text(tag: str, entry: Any = entry) -> str:
                return " ".join((entry.findtext(f"{ATOM}{tag}") or "").split())

            authors = ", ".join(
                a.findtext(f"{ATOM}name") or "" for a in entry.findall(f"{ATOM}author")
            )
            papers.append(
                f"Published: {text('published')[:10]}\nTitle: {text('title')}\n"
                f"Authors: {authors}\nURL: {text('id')}\nSummary: {text('summary')}"
            )
        return "\n\n".join(papers)[: self.chars] or "No papers found."


@register
class Arxiv(Node):
    name = "arxiv"
    label = "Arxiv"
    category = "Tools"
    description = "Searches arXiv's papers (titles, authors, summaries)"
    base_classes = ("Arxiv", "DynamicStructuredTool", "StructuredTool", "Runnable", "Tool")
    inputs = flowise_inputs(
        name,
        Input(
            "arxivDescription",
            "string",
            optional=True,
            default="Searches arXiv for academic papers by keywords, topics, authors or ids.",
        ),
        Input("topKResults", "number", optional=True, default=3),
        Input("maxQueryLength", "number", optional=True, default=300),
        Input("docContentCharsMax", "number", optional=True, default=10000),
    )

    async def build(self, ctx: RunContext) -> Tool:
        return ArxivTool(
            service_url(ctx.settings, services.ARXIV),
            str(self.get("arxivName")),
            str(self.get("arxivDescription")),
            max(1, to_int(self.get("topKResults"), 3) or 3),
            max(1, to_int(self.get("maxQueryLength"), 300) or 300),
            max(100, to_int(self.get("docContentCharsMax"), 10000) or 10000),
        )
