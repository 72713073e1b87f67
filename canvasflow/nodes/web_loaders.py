"""Document loaders that read from the web: a GitHub repository's files (its API)."""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import math
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import orjson

from canvasflow.errors import CanvasflowError, CanvasInvalid, UpstreamError
from canvasflow.nodes import services
from canvasflow.nodes.documents import finish_loaded
from canvasflow.nodes.services import (
    ServiceError,
    allowed_host,
    call,
    credential_value,
    server_key,
    service_url,
)
from canvasflow.runtime.node import Input, Node, flowise_inputs, register, to_bool, to_int

if TYPE_CHECKING:
    from canvasflow.runtime.context import RunContext

Document = dict[str, Any]

MAX_FILES = 500
MAX_FILE_BYTES = 1_000_000
CACHE_SECONDS = 600.0
BINARY = re.compile(
    r"\.(png|jpe?g|gif|webp|ico|svg|pdf|zip|gz|tgz|tar|jar|exe|dll|so|woff2?|ttf|eot|mp[34]|"
    r"mov|avi|bin|lock)$",
    re.I,
)
_CACHE: dict[tuple[Any, ...], tuple[float, Any]] = {}


async def cached(key: tuple[Any, ...], load: Any) -> Any:
    """What ``load()`` read, kept ``CACHE_SECONDS`` per process under ``key`` (callers
    only read it)."""
    found = _CACHE.get(key)
    if found is not None and time.monotonic() - found[0] < CACHE_SECONDS:
        return found[1]
    docs = await load()
    _CACHE[key] = (time.monotonic(), docs)
    return docs


def repo_of(link: str) -> tuple[str, str]:
    """(owner, repository) of a GitHub link: ``https://github.com/owner/repo[.git][/...]``."""
    parts = [p for p in urlsplit(link.strip()).path.split("/") if p]
    if len(parts) < 2:
        raise CanvasInvalid(f"{link!r} is not a GitHub repository link", code="bad_input")
    return parts[0], parts[1].removesuffix(".git")


def ignored(path: str, patterns: list[str]) -> bool:
    return any(
        fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.rstrip("/") + "/*") for p in patterns
    )


def patterns_of(raw: Any) -> list[str]:
    if isinstance(raw, list):
        return [str(p) for p in raw]
    text = str(raw or "").strip()
    if text.startswith("["):
        try:
            return [str(p) for p in orjson.loads(text)]
        except orjson.JSONDecodeError:
            pass
    return [p.strip() for p in text.split(",") if p.strip()]


@register
class GithubLoader(Node):
    name = "github"
    label = "Github"
    category = "Document Loaders"
    description = "The text files of a GitHub repository (its API; a token for private ones)"
    base_classes = ("Document",)
    inputs = flowise_inputs(name)

    async def _api(self, ctx: RunContext) -> tuple[str, str | None]:
        """The API's base URL and the token to send there."""
        own_token = await credential_value(ctx, self.get("credential"), "accessToken")
        chosen = str(self.get("githubInstanceApi") or "").strip().rstrip("/")
        if chosen and chosen != services.GITHUB.url:
            # a GitHub Enterprise instance the author names: an allowed host, their token
            allowed_host(ctx, self, chosen, "GitHub")
            return chosen, own_token
        base = service_url(ctx.settings, services.GITHUB)
        return base, own_token or server_key(ctx.settings, "GITHUB_TOKEN", base, base)

    async def build(self, ctx: RunContext) -> list[Document]:
        link = str(self.get("repoLink"))
        owner, repo = repo_of(link)
        branch = str(self.get("branch") or "main")
        recursive = to_bool(self.get("recursive"))
        skip = patterns_of(self.get("ignorePath"))
        api, token = await self._api(ctx)
        files = await cached(
            (api, token, owner, repo, branch, recursive, tuple(skip)),
            lambda: self._files(api, token, owner, repo, branch, recursive, skip),
        )
        return finish_loaded(self, files)

    async def _files(
        self,
        api: str,
        token: str | None,
        owner: str,
        repo: str,
        branch: str,
        recursive: bool,
        skip: list[str],
    ) -> list[Document]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        where = f"{api}/repos/{quote(owner)}/{quote(repo)}"
        try:
            tree = await call(
                "GET",
                f"{where}/git/trees/{quote(branch, safe='')}",
                what="GitHub",
                params={"recursive": "1"} if recursive else None,
                headers=headers,
            )
        except ServiceError as exc:
            raise UpstreamError(f"{owner}/{repo}@{branch}: {exc}") from None
        paths = [
            item["path"]
            for item in tree.get("tree") or []
            if item.get("type") == "blob"
            and int(item.get("size") or 0) <= MAX_FILE_BYTES
            and not BINARY.search(item["path"])
            and not ignored(item["path"], skip)
        ][:MAX_FILES]
        limit = asyncio.Semaphore(max(1, to_int(self.get("maxConcurrency"), 4) or 4))

        async def one(path: str) -> Document | None:
            async with limit:
                try:
                    data = await call(
                        "GET",
                        f"{where}/contents/{quote(path)}",
                        what="GitHub",
                        params={"ref": branch},
                        headers=headers,
                    )
                except ServiceError as exc:
                    raise UpstreamError(f"{owner}/{repo}/{path}: {exc}") from None
            try:
                text = base64.b64decode(data.get("content") or "").decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return None  # not text
            link = f"https://github.com/{owner}/{repo}/blob/{branch}/{path}"
            return {
                "pageContent": text,
                "metadata": {
                    "source": path,
                    "repository": f"{owner}/{repo}",
                    "branch": branch,
                    "url": link,
                },
            }

        found = await asyncio.gather(*(one(p) for p in paths))
        return [d for d in found if d is not None]


# -- web pages ------------------------------------------------------------------------------


def page_text(html: str, selector: str | None = None) -> tuple[str, str, list[str]]:
    """A page's title, readable text (under ``selector`` when given) and links."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    parts = soup.select(selector) if selector else [soup.body or soup]
    text = "\n".join(p.get_text("\n", strip=True) for p in parts)
    links = [str(a.get("href")) for a in soup.find_all("a") if a.get("href")]
    return title, re.sub(r"\n{3,}", "\n\n", text).strip(), links


async def fetch_page(url: str, hosts: frozenset[str]) -> str:
    """A page's body from an allowed host (redirects only to allowed hosts)."""
    import httpx

    from canvasflow.models.native import http
    from canvasflow.sandbox import HostNotAllowed, allowed_fetch

    try:
        answer = await allowed_fetch(http(), url, {"method": "GET"}, hosts)
    except HostNotAllowed as exc:
        raise CanvasInvalid(str(exc), code="host_not_allowed") from None
    except httpx.HTTPError as exc:
        raise UpstreamError(f"{url}: {exc}") from None
    if int(answer["status"]) >= 400:
        raise UpstreamError(f"{url} answered {answer['status']}")
    return str(answer["body"])


def same_site(base: str, links: list[str]) -> list[str]:
    from urllib.parse import urldefrag, urljoin

    origin = urlsplit(base)
    out = []
    for link in links:
        url = urldefrag(urljoin(base, link))[0]
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc == origin.netloc:
            out.append(url)
    return list(dict.fromkeys(out))


async def crawl(
    start: list[str],
    hosts: frozenset[str],
    pages: int,
    depth: float | None,
    into: list[Document],
    selector: str | None = None,
    skip_failed: bool = False,
) -> None:
    """Read pages breadth first from ``start`` into ``into`` (``pageContent``, and the
    ``source`` and ``title`` as metadata), ``pages`` at most; with a ``depth``, also the
    same site's pages they link to, that many links deep. A page that cannot be read
    ends the crawl with its error, or with ``skip_failed`` is left out (not the first).
    Filling ``into`` as it goes, a caller's deadline keeps what was read in time."""
    queue = [(url, 0) for url in start]
    seen: set[str] = set()
    while queue and len(into) < pages:
        url, level = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        try:
            title, text, links = page_text(await fetch_page(url, hosts), selector)
        except CanvasflowError:
            if not skip_failed or (not into and url == start[0]):
                raise
            continue
        into.append({"pageContent": text, "metadata": {"source": url, "title": title}})
        if depth is not None and level < depth:
            queue += [(u, level + 1) for u in same_site(url, links) if u not in seen]


@register
class CheerioWebScraper(Node):
    name = "cheerioWebScraper"
    label = "Cheerio Web Scraper"
    category = "Document Loaders"
    description = "Web pages' text (a CSS selector picks the part); allowed hosts only"
    base_classes = ("Document",)
    inputs = flowise_inputs(
        name,
        Input(
            "relativeLinksMethod",
            "options",
            optional=True,
            options=("webCrawl", "scrapeXMLSitemap"),
        ),
        Input("limit", "number", optional=True, default=10),
    )

    async def _pages(self, ctx: RunContext, url: str) -> list[Document]:
        hosts = ctx.settings.outbound_hosts
        method = str(self.get("relativeLinksMethod") or "")
        limit = max(1, to_int(self.get("limit"), 10) or 10)
        selector = str(self.get("selector") or "").strip() or None
        if method == "scrapeXMLSitemap":
            sitemap = await fetch_page(url, hosts)
            start = re.findall(r"<loc>\s*([^<\s]+)\s*</loc>", sitemap)[:limit]
        else:
            start = [url]
        pages: list[Document] = []
        depth = math.inf if method == "webCrawl" else None
        await crawl(start, hosts, limit, depth, pages, selector)
        return pages

    async def build(self, ctx: RunContext) -> list[Document]:
        url = str(self.get("url") or "").strip()
        key = (
            url,
            self.get("relativeLinksMethod"),
            self.get("limit"),
            self.get("selector"),
            ctx.settings.allowed_hosts,
        )
        return finish_loaded(self, await cached(key, lambda: self._pages(ctx, url)))
