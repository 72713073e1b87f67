"""The chat page in a real browser: headless Chromium (Debian's) driven by Playwright."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.support import (
    Proc,
    canvasflow_server,
    llm_chain_flow,
    make_canvas,
    poll,
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def server(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    proc = canvasflow_server(tmp_path_factory.mktemp("web"), upstream).start()
    yield proc
    proc.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # Playwright's wait_for_function evaluates strings, which the page's CSP forbids: the
    # instrumented pages bypass it (test_sign_in_keeps_no_key_in_the_page does not)
    context = browser.new_context(viewport={"width": 1000, "height": 800}, bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


def words(n: int) -> str:
    return " ".join(f"word{i}" for i in range(n))


def open_chat(page: Page, server: Proc, canvas: dict) -> None:
    page.goto(f"{server.url}/chat/{canvas['id']}")
    page.wait_for_selector("body[data-ready=true]")


def ask(page: Page, question: str) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")


def answer_text(page: Page) -> str:
    return page.locator(".msg.bot .answer").last.inner_text()


def test_answer_grows_then_finishes(server: Proc, page: Page) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=60&delay=0.04"))
    open_chat(page, server, canvas)
    page.fill("#question", "first line")
    page.press("#question", "Shift+Enter")
    assert page.input_value("#question") == "first line\n"  # a new line, not sent
    assert page.locator(".msg.user").count() == 0
    ask(page, "Tell me a story")
    lengths = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and page.locator(".msg.bot[data-done=true]").count() == 0:
        lengths.append(len(answer_text(page)))
        page.wait_for_timeout(150)
    grew = sorted(set(lengths))
    assert len(grew) >= 4, lengths  # seen over several frames while streaming
    page.wait_for_selector(".msg.bot[data-done=true]")
    assert answer_text(page) == words(60)
    assert "60 out tokens" in page.locator(".msg.bot .usage").last.inner_text()
    assert page.locator(".msg.user").last.inner_text() == "Tell me a story"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-answer.png"), full_page=True)
    # the conversation is kept: a reload shows it again
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector(".msg.bot .answer")
    assert answer_text(page) == words(60)
    # its run is recorded as the chat page's
    url = f"{server.url}/api/v1/executions"
    runs = poll(lambda: httpx.get(url, params={"canvasId": canvas["id"]}).json()["data"] or None)
    assert [r["trigger"] for r in runs] == ["chat"]


def test_stop_button(server: Proc, page: Page) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=500&delay=0.02"))
    open_chat(page, server, canvas)
    ask(page, "Talk for a long time")
    page.wait_for_function("document.querySelector('.msg.bot .answer')?.innerText.length > 30")
    page.click("#stop")
    page.wait_for_selector(".msg.bot[data-done=true]", timeout=5000)
    stopped = answer_text(page)
    page.wait_for_timeout(600)
    assert answer_text(page) == stopped  # it does not grow any more
    assert len(stopped.split()) < 500
    assert page.locator(".msg.bot").last.get_attribute("data-status") == "aborted"
    assert "Stopped" in page.inner_text("#status")
    assert page.is_visible("#send") and not page.is_visible("#stop")


def test_reload_mid_answer_continues_it(server: Proc, page: Page) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=80&delay=0.04"))
    open_chat(page, server, canvas)
    ask(page, "A long answer please")
    page.wait_for_function("document.querySelector('.msg.bot .answer')?.innerText.length > 20")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector(".msg.bot[data-done=true]", timeout=20000)
    assert answer_text(page) == words(80)  # the whole answer, nothing lost or doubled
    assert page.locator(".msg.bot").last.get_attribute("data-status") == "completed"


def test_failing_upstream_is_a_readable_error(server: Proc, page: Page) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?status=500"))
    open_chat(page, server, canvas)
    ask(page, "hello")
    page.wait_for_selector(".msg.bot .error")
    assert "upstream model answered 500" in page.locator(".msg.bot .error").inner_text()


def test_model_output_is_never_markup(server: Proc, page: Page) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock"))
    open_chat(page, server, canvas)
    ask(page, 'echo: **bold** <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>')
    page.wait_for_selector(".msg.bot[data-done=true]")
    answer = page.locator(".msg.bot .answer").last
    assert answer.locator("strong").inner_text() == "bold"
    assert answer.locator("img").count() == 0 and answer.locator("script").count() == 0
    assert "<img src=x" in answer.inner_text()
    assert page.evaluate("window.pwned") is None


def test_readable_on_a_phone(server: Proc, browser: Browser) -> None:
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=40"))
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        open_chat(page, server, canvas)
        ask(page, "hi")
        page.wait_for_selector(".msg.bot[data-done=true]")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        assert page.is_visible("#send") and page.is_visible("#question")
    finally:
        context.close()


def test_sources_and_steps_are_collapsible(server: Proc, page: Page) -> None:
    from tests.support import edge, node, ref

    flow = {
        "nodes": [
            node("chatOpenAI_0", "chatOpenAI", {"modelName": "mock?tokens=3"}),
            node("scripted_0", "scriptedSteps", {"model": ref("chatOpenAI_0")}),
        ],
        "edges": [edge("chatOpenAI_0", "scripted_0")],
    }
    canvas = make_canvas(
        server.url, flow, settings={"returnSourceDocuments": True, "returnIntermediateSteps": True}
    )
    open_chat(page, server, canvas)
    ask(page, "plan")
    page.wait_for_selector(".msg.bot[data-done=true]")
    summaries = page.locator(".msg.bot details summary").all_inner_texts()
    assert summaries == ["Step: retriever", "Step: calculator", "Sources (2)"]
    sources = page.locator(".msg.bot details").nth(2)
    assert not sources.locator("div").first.is_visible()  # collapsed until opened
    sources.locator("summary").click()
    assert "Capitals: Paris is the capital of France." in sources.inner_text()


def test_sign_in_keeps_no_key_in_the_page(upstream: str, tmp_path: Path, browser: Browser) -> None:
    """With authentication on, the page signs in once (an HttpOnly session cookie); the
    key is in no storage a script can read, and no CSP violation occurs."""
    data = tmp_path / "auth"
    proc = canvasflow_server(data, upstream, auth=True).start()
    context = browser.new_context()
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    try:
        admin = (data / "admin.key").read_text().strip()
        page.goto(proc.url + "/")
        page.wait_for_selector("body[data-ready=true]")
        assert page.get_attribute("#settings", "data-needed") == "true"  # canvases need a key
        page.click("#settings summary")
        page.fill("#apikey", admin)
        with page.expect_navigation():  # signed in: the page reloads
            page.click("#signin button")
        page.wait_for_selector("body[data-ready=true]")
        page.wait_for_function("document.querySelector('#canvas').options.length > 0")
        assert page.get_attribute("#settings", "data-needed") is None
        storage = page.evaluate("JSON.stringify({...localStorage, ...sessionStorage})")
        assert admin not in storage and admin not in page.evaluate("document.cookie")
        cookie = next(c for c in context.cookies() if c["name"] == "cf_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        ask(page, "hello")
        page.wait_for_selector(".msg.bot[data-done=true]", timeout=60000)
        assert violations == []
    finally:
        context.close()
        proc.stop()


def test_a_canvas_serving_flowises_widget_still_shows_right_here(server: Proc, page: Page) -> None:
    """Turning on Flowise's chat widget makes the canvas stream Flowise's format to
    clients that ask nothing; the chat page asks for canvasflow's, so nothing changes on it
    (issue 41: it showed "0 in / 0 out tokens · 0 ms · undefined")."""
    canvas = make_canvas(
        server.url, llm_chain_flow("mock?tokens=6"), settings={"streamFormat": "flowise"}
    )
    open_chat(page, server, canvas)
    ask(page, "hello")
    page.wait_for_selector(".msg.bot[data-done=true]")
    assert answer_text(page) == words(6)
    usage = page.locator(".msg.bot .usage").last.inner_text()
    assert "6 out tokens" in usage and "undefined" not in usage
