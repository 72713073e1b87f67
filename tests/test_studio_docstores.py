"""The studio's document store pages in Debian's Chromium: a store made, files dropped in
(their upload's progress, the files no loader reads named), a loader added with its
chunks previewed as the sizes change, processed with its progress streamed, chunks
edited and deleted, the vector store set up and a query answered with scores."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Page

from tests.support import Proc
from tests.test_studio import page, shoot, studio  # noqa: F401 (fixtures)


def test_document_store_pages(page: Page, studio: Proc, tmp_path: Path) -> None:  # noqa: F811
    page.goto(f"{studio.url}/studio/document-stores")
    page.wait_for_selector(".docstores-page .empty")
    form = page.locator(".new-store")
    form.locator("input[name=name]").fill("handbook")
    form.locator("input[name=description]").fill("the staff handbook")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".docstore-page[data-store=handbook] .loaders .empty")

    # files dropped in: uploaded, processed; the one no loader reads is named
    files = []
    for name, text in (
        ("leave.md", "Staff have 25 days of paid leave a year.\n\nLeave is booked in the portal."),
        ("travel.txt", "Travel is booked through the travel desk.\n\nTrains over flights."),
    ):
        (tmp_path / name).write_text(text)
        files.append(str(tmp_path / name))
    (tmp_path / "photo.bmp").write_bytes(b"BM....")
    files.append(str(tmp_path / "photo.bmp"))
    page.locator(".drop-zone input[type=file]").set_input_files(files)
    result = page.locator(".drop-zone .upload-result")
    result.filter(has_text="embedded").wait_for()
    assert "failed 1" in result.inner_text()
    assert "photo.bmp" in page.locator(".drop-zone .failed").inner_text()
    page.wait_for_selector(".loaders tr[data-loader] .status-sync")
    assert page.locator(".docstore-page h2 .status").inner_text() == "UPSERTED"

    # a loader added: the preview follows the chunk size as it is typed
    add = page.locator(".add-loader")
    add.locator("select[aria-label=Loader]").select_option("plainText")
    text = " ".join(f"Rule {i}: keep the office tidy." for i in range(30))
    add.locator("[data-input=text] textarea, [data-input=text] input").first.fill(text)
    size = add.locator("#field-splitter-chunkSize")
    size.fill("100")
    heading = add.locator(".preview h4")
    heading.filter(has_text="chunks").wait_for()
    small = int(heading.inner_text().split()[0])
    size.fill("400")
    page.wait_for_function(
        "n => parseInt(document.querySelector('.add-loader .preview h4').textContent) < n",
        arg=small,
    )
    assert add.locator(".preview .chunk").count() >= 1
    add.locator(".preview h4").scroll_into_view_if_needed()
    shoot(page, "studio-docstore-add-loader.png")
    add.locator("button[type=submit]").click()
    # processed in the background, its progress streamed until the job is done
    page.wait_for_selector(".loaders tr[data-loader] >> text=Plain Text")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.loaders .job')].length === 2 && "
        "[...document.querySelectorAll('.loaders .job')].every(j => j.dataset.state === 'done')"
    )
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "studio-docstore.png")

    # the chunk browser: an edit embedded again, a delete
    page.locator(".loaders tr[data-loader]").first.locator("text=Chunks").click()
    browser = page.locator(".chunk-browser")
    browser.locator("[data-chunk='1']").wait_for()
    count = browser.locator(".chunk-card").count()
    browser.locator("[data-chunk='1'] >> text=Edit").click()
    browser.locator("textarea[name=text]").fill("Pets are welcome on Fridays.")
    browser.locator("button[type=submit]").click()
    browser.locator(".notice").filter(has_text="embedded again").wait_for()
    page.once("dialog", lambda d: d.accept())
    browser.locator(".chunk-card").last.locator("text=Delete").click()
    page.wait_for_function(
        "n => document.querySelectorAll('.chunk-browser .chunk-card').length === n - 1", arg=count
    )

    # the vector store's set-up, and the test box with scores
    vs = page.locator(".vector-store")
    vs.locator("select[aria-label='Vector store']").select_option("qdrant")
    vs.locator("[data-config=vectorStore]").wait_for()  # an outside engine's settings
    shoot(page, "studio-docstore-vector-store.png")
    vs.locator("select[aria-label='Vector store']").select_option("faiss")
    vs.locator("input[aria-label='Top K']").fill("2")
    vs.locator("button[type=submit]").first.click()
    vs.locator(".notice").filter(has_text="Saved").wait_for()
    admin = {"Authorization": f"Bearer {studio.admin}"}  # type: ignore[attr-defined]
    saved = httpx.get(f"{studio.url}/api/v1/document-store/store/handbook", headers=admin).json()
    assert saved["vectorStoreConfig"] == {"name": "faiss", "config": {"topK": 2}}
    query = page.locator(".query-box")
    query.locator("input[name=query]").fill("pets welcome on Fridays")
    query.locator("button[type=submit]").click()
    query.locator(".query-results li").first.wait_for()
    assert query.locator(".query-results li").count() == 2
    assert "Pets are welcome" in query.locator(".query-results li").first.inner_text()
    assert float(query.locator(".score").first.inner_text()) > 0
    query.locator(".query-results").scroll_into_view_if_needed()
    shoot(page, "studio-docstore-query.png")

    # the list shows it with its counts
    page.goto(f"{studio.url}/studio/document-stores")
    row = page.locator("tr[data-store=handbook]")
    row.wait_for()
    assert "UPSERTED" in row.inner_text() and "3" in row.locator("td").nth(3).inner_text()
    store = httpx.get(f"{studio.url}/api/v1/document-store/store/handbook", headers=admin).json()
    assert (
        httpx.delete(
            f"{studio.url}/api/v1/document-store/store/{store['id']}", headers=admin
        ).status_code
        == 204
    )
