"""Flowise's chat widget (npm ``flowise-embed``, served by canvasflow) on a website of
another origin, in a real browser, and the routes it calls besides predictions:
chatbot settings, feedback, leads, uploads."""

from __future__ import annotations

import base64
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.support import (
    Proc,
    canvasflow_server,
    edge,
    free_port,
    llm_chain_flow,
    make_canvas,
    node,
    poll,
    ref,
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

# a 1x1 transparent PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
CHATBOT = {
    "welcomeMessage": "Hello from canvasflow",
    "starterPrompts": {"0": {"prompt": "What can you do?"}},
    "chatFeedback": {"status": True},
    "allowImageUploads": True,
}


@pytest.fixture(scope="module")
def server(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    proc = canvasflow_server(tmp_path_factory.mktemp("widget"), upstream).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def canvas(server: Proc) -> dict[str, Any]:
    return make_canvas(
        server.url,
        llm_chain_flow("mock?tokens=6"),
        "widget",
        settings={"chatbotConfig": CHATBOT, "streamFormat": "flowise"},
    )


def predict(server: Proc, canvas: dict[str, Any], **body: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/prediction/{canvas['id']}",
        json={"question": "hi", **body},
        timeout=30,
    )


def png_upload(name: str = "dot.png", data: bytes = PNG) -> dict[str, str]:
    return {
        "type": "file",
        "name": name,
        "mime": "image/png",
        "data": "data:image/png;base64," + base64.b64encode(data).decode(),
    }


# -- the routes, over HTTP ---------------------------------------------------------------------


def test_public_chatbot_config(server: Proc, canvas: dict[str, Any]) -> None:
    cfg = httpx.get(f"{server.url}/api/v1/public-chatbotConfig/{canvas['id']}").json()
    assert cfg["welcomeMessage"] == "Hello from canvasflow"
    assert cfg["uploads"]["isImageUploadAllowed"] is True
    assert cfg["uploads"]["isRAGFileUploadAllowed"] is False
    assert "image/png" in cfg["uploads"]["imgUploadSizeAndTypes"][0]["fileTypes"]
    assert httpx.get(f"{server.url}/api/v1/public-chatbotConfig/nope").status_code == 404


def test_feedback_is_stored_with_its_answer(server: Proc, canvas: dict[str, Any]) -> None:
    answer = predict(server, canvas, chatId="fb-chat").json()
    base = f"{server.url}/api/v1/feedback"
    body = {
        "chatflowid": canvas["id"],
        "chatId": "fb-chat",
        "messageId": answer["chatMessageId"],
        "rating": "THUMBS_DOWN",
        "content": "",
    }
    r = httpx.post(f"{base}/{canvas['id']}", json=body)
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    r = httpx.put(f"{base}/{fid}", json={"content": "too short"})
    assert r.status_code == 200 and r.json()["content"] == "too short"
    stored = httpx.get(f"{base}/{canvas['id']}").json()
    assert [(f["messageId"], f["rating"], f["content"]) for f in stored] == [
        (answer["chatMessageId"], "THUMBS_DOWN", "too short")
    ]
    # an answer of another chat, a made-up answer, a bad rating
    assert httpx.post(f"{base}/{canvas['id']}", json={**body, "chatId": "x"}).status_code == 404
    assert httpx.post(f"{base}/{canvas['id']}", json={**body, "messageId": "m"}).status_code == 404
    assert httpx.post(f"{base}/{canvas['id']}", json={**body, "rating": "MEH"}).status_code == 400
    assert httpx.put(f"{base}/nope", json={"content": "x"}).status_code == 404


def test_leads_are_stored(server: Proc, canvas: dict[str, Any]) -> None:
    lead = {"chatflowid": canvas["id"], "chatId": "lead-chat", "name": "Ann", "email": "a@x.io"}
    r = httpx.post(f"{server.url}/api/v1/leads", json=lead)
    assert r.status_code == 201, r.text
    leads = httpx.get(f"{server.url}/api/v1/leads/{canvas['id']}").json()
    assert [(x["name"], x["email"]) for x in leads] == [("Ann", "a@x.io")]


def test_an_uploaded_image_reaches_the_model(
    server: Proc, canvas: dict[str, Any], upstream: str
) -> None:
    r = predict(server, canvas, chatId="img-chat", uploads=[png_upload()])
    assert r.status_code == 200, r.text
    last = httpx.get(upstream + "/requests").json()[-1]
    parts = last["messages"][-1]["content"]
    assert {"type": "text", "text": "hi"} in parts
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert urls == ["data:image/png;base64," + base64.b64encode(PNG).decode()]
    # the chat gets its file back; another chat, or a path outside the folder, does not
    q = {"chatflowId": canvas["id"], "chatId": "img-chat", "fileName": "dot.png"}
    got = httpx.get(f"{server.url}/api/v1/get-upload-file", params=q)
    assert got.status_code == 200 and got.content == PNG
    for other in ({"chatId": "other"}, {"fileName": "../../canvasflow.db"}):
        r = httpx.get(f"{server.url}/api/v1/get-upload-file", params={**q, **other})
        assert r.status_code == 404


def test_uploads_are_checked(server: Proc, canvas: dict[str, Any]) -> None:
    plain = make_canvas(server.url, llm_chain_flow("mock?tokens=2"), "no uploads")
    r = predict(server, plain, uploads=[png_upload()])
    assert r.status_code == 403 and "allowImageUploads" in r.text
    r = predict(server, canvas, uploads=[{**png_upload(), "mime": "image/tiff"}])
    assert r.status_code == 415
    r = predict(server, canvas, uploads=[png_upload(data=b"x" * (5 * 1024 * 1024 + 1))])
    assert r.status_code == 413
    r = predict(server, canvas, uploads=[{**png_upload(), "data": "not a data url"}])
    assert r.status_code == 400
    r = predict(server, canvas, uploads=["nope"])
    assert r.status_code == 400


def test_what_is_not_offered_says_so(server: Proc, canvas: dict[str, Any]) -> None:
    for path in ("text-to-speech/generate", f"attachments/{canvas['id']}/c"):
        r = httpx.post(f"{server.url}/api/v1/{path}", json={})
        assert r.status_code == 501 and "not offered" in r.text


# -- the widget on another origin, in a real browser -----------------------------------------


@pytest.fixture(scope="module")
def website(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A static website on another port (another origin): (its folder, its URL)."""
    root = tmp_path_factory.mktemp("site")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def page_with_widget(
    browser: Browser,
    server: Proc,
    website: tuple[Path, str],
    canvas: dict[str, Any],
    refused: bool = False,
) -> Page:
    """A page of the website with the snippet canvasflow's chat page offers for the
    canvas pasted in, the widget open."""
    chat = browser.new_page()
    chat.goto(f"{server.url}/chat/{canvas['id']}")
    chat.click("#embed summary")
    snippet = poll(lambda: chat.inner_text("#embed-snippet") or None, timeout=15)
    chat.close()
    assert f'chatflowid: "{canvas["id"]}"' in snippet
    root, url = website
    (root / f"{canvas['id']}.html").write_text(
        f"<!doctype html><html><body><h1>A website</h1>\n{snippet}\n</body></html>"
    )
    page = browser.new_page(viewport={"width": 1100, "height": 850})
    page.goto(url + f"{canvas['id']}.html")
    # the bubble (Playwright's CSS enters shadow roots); the widget asks whether the
    # canvas streams when it opens, and sends JSON predictions until it knows
    with page.expect_response(lambda r: "/api/v1/chatflows-streaming/" in r.url):
        page.click("button[part='button']")
    if not refused:
        page.wait_for_selector("text=What can you do?")  # and its chatbotConfig is read
    return page


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def test_the_widget_streams_an_answer_and_takes_feedback(
    server: Proc, canvas: dict[str, Any], website: tuple[Path, str], browser: Browser
) -> None:
    page = page_with_widget(browser, server, website, canvas)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        # the starter prompt and the image button come from the canvas's chatbotConfig
        page.wait_for_selector("text=What can you do?")
        page.click("text=What can you do?")  # a starter prompt asks it
        answer = page.locator("[data-testid='host-bubble']").last
        poll(lambda: "word5" in answer.inner_text() or None, timeout=30)
        page.locator("button:has(path[d='M7 10v12'])").last.click()  # thumbs up

        def stored() -> list[dict[str, Any]] | None:
            rows = httpx.get(f"{server.url}/api/v1/feedback/{canvas['id']}").json()
            return [f for f in rows if f["rating"] == "THUMBS_UP"] or None

        up = poll(stored, timeout=15)
        assert len(up) == 1
        shoot(page, "widget.png")
        # the widget then asks for a comment: it updates the same feedback
        page.fill("textarea[placeholder='What do you think of the response?']", "clear")
        page.click("text=Submit Feedback")
        poll(lambda: (stored() or [{}])[0].get("content") == "clear" or None, timeout=15)
        question = httpx.get(
            f"{server.url}/api/v1/chatmessage/{canvas['id']}", params={"chatId": up[0]["chatId"]}
        ).json()
        assert [m["content"] for m in question if m["role"] == "userMessage"] == [
            "What can you do?"
        ]
        assert not errors, errors
    finally:
        page.close()


def test_the_widget_sends_an_image_to_the_model(
    server: Proc,
    canvas: dict[str, Any],
    website: tuple[Path, str],
    browser: Browser,
    upstream: str,
    tmp_path: Path,
) -> None:
    image = tmp_path / "dot.png"
    image.write_bytes(PNG)
    page = page_with_widget(browser, server, website, canvas)
    try:
        page.wait_for_selector("text=What can you do?")
        page.set_input_files("input[type=file]", str(image))
        page.fill("textarea", "what is in the picture?")
        page.keyboard.press("Enter")
        answer = page.locator("[data-testid='host-bubble']").last
        poll(lambda: "word5" in answer.inner_text() or None, timeout=30)
        shoot(page, "widget-image.png")
        last = httpx.get(upstream + "/requests").json()[-1]
        parts = last["messages"][-1]["content"]
        assert parts[0]["text"] == "what is in the picture?"
        assert [p["image_url"]["url"] for p in parts[1:]] == [
            "data:image/png;base64," + base64.b64encode(PNG).decode()
        ]
    finally:
        page.close()


def test_stop_in_the_widget_stops_the_answer(
    server: Proc, website: tuple[Path, str], browser: Browser
) -> None:
    slow = make_canvas(
        server.url,
        llm_chain_flow("mock?tokens=400&delay=0.05"),
        "slow widget",
        settings={"chatbotConfig": CHATBOT, "streamFormat": "flowise"},
    )
    page = page_with_widget(browser, server, website, slow)
    try:
        page.fill("textarea", "talk a lot")
        page.keyboard.press("Enter")
        answer = page.locator("[data-testid='host-bubble']").last
        poll(lambda: "word3" in answer.inner_text() or None, timeout=30)
        # flowise-embed 3.1.6 shows its Stop button for agentflow answers only; its
        # request is this one, made here from the website's page (another origin)
        # the chat the widget asked in (its question is stored when the answer starts)
        chat_id = poll(
            lambda: next(
                (
                    m["chatId"]
                    for m in httpx.get(f"{server.url}/api/v1/chatmessage/{slow['id']}").json()
                    if m["role"] == "userMessage"
                ),
                None,
            ),
            timeout=15,
        )
        status = page.evaluate(
            """async ([host, id, chatId]) => {
                const r = await fetch(`${host}/api/v1/chatmessage/abort/${id}/${chatId}`,
                                      {method: 'PUT'});
                return [r.status, localStorage.getItem(id + '_EXTERNAL')];
            }""",
            [server.url, slow["id"], chat_id],
        )
        assert status[0] == 200, (chat_id, status)

        def stored() -> dict[str, Any] | None:
            rows = httpx.get(f"{server.url}/api/v1/chatmessage/{slow['id']}").json()
            # the answer's row is there, empty and running, from the start: wait for its end
            return next(
                (m for m in rows if m["role"] == "apiMessage" and m["status"] != "running"), None
            )

        message = poll(stored, timeout=30)
        shoot(page, "widget-stopped.png")
        assert message["status"] == "aborted", message
        assert "word3" in message["content"] and "word399" not in message["content"]
    finally:
        page.close()


def test_the_widget_on_a_website_the_canvas_does_not_allow(
    server: Proc, website: tuple[Path, str], browser: Browser, upstream: str
) -> None:
    own = make_canvas(
        server.url,
        llm_chain_flow("mock?tokens=3&first_byte=0"),
        "elsewhere only",
        settings={
            "chatbotConfig": CHATBOT,
            "streamFormat": "flowise",
            "allowedOrigins": ["https://site.example"],
        },
    )
    page = page_with_widget(browser, server, website, own, refused=True)
    try:
        page.fill("textarea", "refused hello?")
        page.keyboard.press("Enter")
        answer = page.locator("[data-testid='host-bubble']").last
        poll(lambda: "not allowed" in answer.inner_text() or None, timeout=30)
        shoot(page, "widget-refused.png")
        asked = [  # the chat requests the mock model had (other tests ask for embeddings)
            r["messages"][-1]["content"]
            for r in httpx.get(upstream + "/requests").json()
            if r.get("messages")
        ]
        assert "refused hello?" not in asked  # never ran
    finally:
        page.close()


def test_a_canvas_refuses_websites_it_does_not_allow(server: Proc) -> None:
    own = make_canvas(
        server.url,
        llm_chain_flow("mock?tokens=2"),
        "one site",
        settings={"allowedOrigins": ["https://site.example"], "chatbotConfig": CHATBOT},
    )
    url = f"{server.url}/api/v1/public-chatbotConfig/{own['id']}"
    assert httpx.get(url, headers={"Origin": "https://site.example"}).status_code == 200
    r = httpx.get(url, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "not allowed" in r.text
    lead = {"chatflowid": own["id"], "chatId": "c", "name": "Eve"}
    r = httpx.post(
        f"{server.url}/api/v1/leads", json=lead, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403


def test_the_widget_shows_sources(
    server: Proc, website: tuple[Path, str], browser: Browser
) -> None:
    flow = {
        "nodes": [
            node("chatOpenAI_0", "chatOpenAI", {"modelName": "mock?tokens=3"}),
            node("scripted_0", "scriptedSteps", {"model": ref("chatOpenAI_0")}),
        ],
        "edges": [edge("chatOpenAI_0", "scripted_0")],
    }
    steps = make_canvas(
        server.url,
        flow,
        "with sources",
        settings={
            "chatbotConfig": CHATBOT,
            "streamFormat": "flowise",
            "returnSourceDocuments": True,
            "returnIntermediateSteps": True,
        },
    )
    page = page_with_widget(browser, server, website, steps)
    try:
        page.fill("textarea", "plan")
        page.keyboard.press("Enter")
        chips = page.locator(".source-chip")
        poll(lambda: chips.count() > 0 or None, timeout=30)
        shoot(page, "widget-sources.png")
        assert any("Paris" in t or "Capitals" in t for t in chips.all_inner_texts()), (
            chips.all_inner_texts()
        )
    finally:
        page.close()


@pytest.mark.parametrize("name", ["chatOllama", "chatAnthropic"])
def test_an_uploaded_image_in_each_native_providers_shape(
    server: Proc, upstream: str, name: str
) -> None:
    inputs: dict[str, Any] = {"modelName": "mock?tokens=2"}
    if name == "chatOllama":
        inputs["baseUrl"] = upstream
    flow = {
        "nodes": [
            node("m", name, inputs),
            node("p", "promptTemplate", {"template": "{question}"}),
            node("c", "llmChain", {"model": ref("m"), "prompt": ref("p")}),
        ],
        "edges": [edge("m", "c"), edge("p", "c")],
    }
    own = make_canvas(server.url, flow, name, settings={"chatbotConfig": CHATBOT})
    r = predict(server, own, uploads=[png_upload()])
    assert r.status_code == 200, r.text
    sent = httpx.get(upstream + "/requests").json()[-1]["messages"][-1]
    b64 = base64.b64encode(PNG).decode()
    if name == "chatOllama":
        assert sent == {"role": "user", "content": "hi", "images": [b64]}
    else:
        assert sent["content"] == [
            {"type": "text", "text": "hi"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64}},
        ]


def test_the_public_chatbot_page_is_themed_and_reads_its_own_format(
    server: Proc, browser: Browser
) -> None:
    """A public canvas's /chatbot page: Flowise's widget on the whole page with the
    canvas's title and welcome message, streaming (it asks for Flowise's format while the
    canvas streams canvasflow's to others), follow-up prompts as buttons. A canvas that
    is not public says so."""
    settings = {
        "isPublic": True,
        "chatbotConfig": {
            "title": "Shop assistant",
            "welcomeMessage": "Welcome to the shop",
            "starterPrompts": {"0": {"prompt": "What do you sell?"}},
            "botMessage": {"backgroundColor": "#fde68a"},
            "followUpPrompts": {"status": True},
        },
        "followUpPrompts": {
            "status": True,
            "selectedProvider": "chatOpenAI",
            "chatOpenAI": {"modelName": "mock"},
        },
    }
    canvas = make_canvas(server.url, llm_chain_flow("mock?tokens=6"), settings=settings)
    hidden = make_canvas(server.url, llm_chain_flow(), name="not public")
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{server.url}/chatbot/{canvas['id']}")
        page.wait_for_selector("text=Welcome to the shop", timeout=20000)
        page.wait_for_selector("text=Shop assistant")
        assert page.title() == "Shop assistant"
        with page.expect_response(lambda r: "/api/v1/prediction/" in r.url) as sent:
            page.click("text=What do you sell?")
        assert sent.value.request.post_data_json["streamFormat"] == "flowise"
        page.wait_for_selector("text=word5", timeout=30000)
        page.wait_for_selector("text=Try these prompts", timeout=20000)  # the follow-ups
        page.wait_for_selector("text=mock")
        shoot(page, "chatbot-page.png")
        assert not errors, errors
        page.goto(f"{server.url}/chatbot/{hidden['id']}")
        page.wait_for_selector("#chatbot-status:has-text('is not public')")
    finally:
        page.close()
