"""The web page in a real browser: Debian's Chromium driven by Playwright against a real `rag
serve` with auth on, as a colleague would use it: sign in, create a collection, upload a DOCX
and a PDF and watch them become indexed, ask and see the streamed, cited answer, open the
citation, ask something not covered, a hostile document, delete a document, sources with a
schedule, status, phone width, keyboard only, and /docs and /redoc, all with no request
leaving the machine. Screenshots of each step go to data/test-artifacts/web/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.bootstrap import Runtime
from tests import docs
from tests.server import Server, link_model_cache

pytestmark = pytest.mark.slow
ADMIN = "page-admin-key-for-tests"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "data" / "test-artifacts" / "web"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-default-apps", "--no-first-run"]
HOSTILE_NAME = "<img src=x onerror=window.__pwned=1>.md"


def chromium() -> str:
    """Debian's Chromium; without it the browser tests skip, except under CI=true (.ci/run installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("no Chromium under CI=true: .ci/run installs Debian's chromium; install it with apt-get")
    pytest.skip("no Chromium found (apt-get install chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, runtime: Runtime) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("web") / "data"
    link_model_cache(runtime.settings.model_cache_dir, data)
    srv = Server(data, RAG_ADMIN_KEY=ADMIN, RAG_LOAD_SAMPLES="false").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as p:
        # Playwright gives each launch a fresh, temporary user data dir.
        launched = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def open_tab(browser, server: Server, bypass_csp: bool = True):
    """A tab whose every request must stay on the server (anything else is aborted and listed
    in `tab.outside`). The steps run with `bypass_csp` because Playwright's waiting helpers
    evaluate strings in the page, which the page's own policy rightly forbids;
    test_the_policy_blocks_inline_script runs without it."""
    context = browser.new_context(bypass_csp=bypass_csp, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.outside, tab.dialogs, tab.errors = [], [], []

    def guard(route) -> None:
        if route.request.url.startswith(server.base) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            tab.outside.append(route.request.url)
            route.abort()
    tab.route("**/*", guard)
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.accept()))
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    return tab


@pytest.fixture()
def page(browser, server: Server) -> Iterator[object]:
    tab = open_tab(browser, server)
    yield tab
    tab.context.close()
    assert tab.outside == [], f"the page reached outside the server: {tab.outside}"
    assert tab.errors == [], tab.errors


def shot(tab, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(tab, server: Server) -> None:
    tab.goto(server.base + "/")
    tab.wait_for_selector("#sign-in:not([hidden])")
    tab.fill("#api-key", ADMIN)
    tab.press("#api-key", "Enter")
    tab.wait_for_selector("#app:not([hidden])")


def create_collection(tab, name: str) -> None:
    if not tab.evaluate("() => document.getElementById('new-collection').open"):
        tab.click("#new-collection summary")
    tab.fill("#new-name", name)
    tab.click("#create-collection-form button[type=submit]")
    tab.wait_for_selector("#view-documents:not([hidden])")
    tab.wait_for_function(f"document.getElementById('collection').value === {name!r}")


def test_a_colleague_uploads_asks_and_checks_the_citation(page, server: Server, tmp_path: Path) -> None:
    tab = page
    tab.goto(server.base + "/")
    tab.wait_for_selector("#sign-in:not([hidden])")
    shot(tab, "01-sign-in")
    assert "key" not in tab.url
    csp = tab.request.get(server.base + "/").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    tab.fill("#api-key", "wrong-key")
    tab.press("#api-key", "Enter")
    tab.wait_for_selector("#sign-in-error:not([hidden])")
    assert "not accepted" in tab.text_content("#sign-in-error")
    tab.fill("#api-key", ADMIN)
    tab.press("#api-key", "Enter")
    tab.wait_for_selector("#app:not([hidden])")
    tab.wait_for_selector("#collection-empty:not([hidden])")        # a new server says what to do
    assert ADMIN not in tab.url

    tab.fill("#new-name", "handbook")
    tab.fill("#new-description", "Staff handbook")
    tab.click("#create-collection-form button[type=submit]")
    tab.wait_for_selector("#view-documents:not([hidden])")
    tab.wait_for_selector("#documents-empty:not([hidden])")
    assert "upload" in tab.text_content("#documents-empty")

    docx = tmp_path / "leave-policy.docx"
    docx.write_bytes(docs.docx("Leave policy", {
        "Annual leave": "Every employee of the Harwick depot receives 27 days of annual leave per year.",
        "Carry-over": "Up to 5 unused days may be carried over into the first quarter of the next year."}))
    pdf = tmp_path / "safety.pdf"
    pdf.write_bytes(docs.pdf([["Safety manual", "The assembly point for fire drills is the north car park.",
                               "Fire drills are held on the first Tuesday of every month."]]))
    tab.set_input_files("#files", [str(docx), str(pdf)])
    tab.wait_for_function("document.querySelectorAll('#uploads .upload.done, #uploads .upload.failed').length === 2",
                          timeout=180_000)
    stages = tab.locator("#uploads .stage").all_text_contents()
    assert all("indexed" in s and "version 1" in s for s in stages), stages
    tab.wait_for_selector("#documents-table:not([hidden])")
    rows = tab.locator("#documents tr").all_text_contents()
    assert any("leave-policy.docx" in r for r in rows) and any("safety.pdf" in r for r in rows)
    shot(tab, "02-uploaded")

    # A file the server refuses says why, and the others are unaffected.
    bad = tmp_path / "tool.exe"
    bad.write_bytes(b"MZ\x90\x00" + bytes(range(256)) * 4)
    tab.set_input_files("#files", [str(bad)])
    tab.wait_for_selector("#uploads .upload.failed")
    assert "Convert it to one of" in tab.text_content("#uploads .upload.failed .stage")

    tab.click(".tab[data-view=ask]")
    tab.evaluate("""() => {
        window.__states = [];
        new MutationObserver(() => window.__states.push(document.getElementById('answer-text').textContent))
            .observe(document.getElementById('answer-text'), {childList: true, characterData: true, subtree: true});
    }""")
    tab.fill("#question", "How many days of annual leave do I get?")
    tab.press("#question", "Enter")
    tab.wait_for_selector("#answer-text .cite", timeout=120_000)
    answer = tab.text_content("#answer-text")
    assert "27" in answer, answer
    growing = [s for s in tab.evaluate("window.__states") if s]
    assert len(set(growing)) >= 2, growing                           # written as it streamed
    shot(tab, "03-answer")
    tab.click("#answer-text .cite >> nth=0")
    tab.wait_for_selector("#citation:not([hidden])")
    meta = tab.text_content("#citation-meta")
    assert "leave-policy.docx" in meta and "Version1" in meta.replace(" ", "") and "Ingested" in meta
    assert "27 days" in tab.text_content("#citation-quote")
    shot(tab, "04-citation")

    tab.fill("#question", "What is the capital of Mongolia?")
    tab.press("#question", "Enter")
    tab.wait_for_selector("#answer-none:not([hidden])", timeout=120_000)
    assert tab.is_hidden("#notice") or "error" not in (tab.get_attribute("#notice", "class") or "")
    shot(tab, "05-not-in-the-documents")

    tab.click(".tab[data-view=documents]")
    tab.wait_for_selector("#documents tr")
    tab.click("button[aria-label='Delete safety.pdf']")
    tab.wait_for_function("!document.getElementById('documents').textContent.includes('safety.pdf')")
    assert any("Delete \"safety.pdf\"" in d for d in tab.dialogs)   # asked first
    shot(tab, "06-deleted")

    # Drag and drop: a file dropped on the page is uploaded and followed like a chosen one.
    dropped = tab.evaluate_handle("""() => {
        const data = new DataTransfer();
        data.items.add(new File(['# Parking\\n\\nVisitors park in bay 14.\\n'], 'parking.md', {type: 'text/markdown'}));
        return data;
    }""")
    tab.dispatch_event("#drop", "drop", {"dataTransfer": dropped})
    tab.wait_for_function("document.getElementById('documents').textContent.includes('parking.md')", timeout=120_000)
    assert "indexed" in tab.text_content("#uploads .upload >> nth=0")


def test_hostile_documents_stay_inert(page, server: Server, tmp_path: Path) -> None:
    tab = page
    sign_in(tab, server)
    hostile = (b"# Boiler room\n\nThe boiler room key is kept in drawer 12 of the caretaker's office.\n\n"
               b"<script>window.__pwned = 'script'</script>\n\n<img src=x onerror=\"window.__pwned='img'\">\n\n"
               b"Caretaker note: <b onmouseover=\"window.__pwned='hover'\">check the drawer</b> on Mondays.\n")
    path = tmp_path / "boiler.md"
    path.write_bytes(hostile)
    named = tmp_path / HOSTILE_NAME
    named.write_bytes(b"# Named\n\nThe caretaker is called Ole Brandt.\n")
    create_collection(tab, "hostile")
    tab.set_input_files("#files", [str(path), str(named)])
    tab.wait_for_function("document.querySelectorAll('#uploads .upload.done').length === 2", timeout=180_000)
    tab.wait_for_function("document.querySelectorAll('#documents tr').length === 2")
    cells = tab.locator("#documents td").all_text_contents()
    assert HOSTILE_NAME in cells                                      # the name shown as text
    assert tab.locator("#documents img, #uploads img").count() == 0
    tab.click(".tab[data-view=ask]")
    tab.fill("#question", "Where is the boiler room key kept?")
    tab.press("#question", "Enter")
    tab.wait_for_selector("#answer-text .cite", timeout=120_000)
    tab.click("#answer-text .cite >> nth=0")
    tab.wait_for_selector("#citation:not([hidden])")
    tab.hover("#citation-quote")
    shot(tab, "07-hostile")
    assert tab.evaluate("window.__pwned") is None
    assert tab.locator("main img, main script, main b").count() == 0
    assert tab.dialogs == []


def test_sources_status_phone_width_and_keyboard(page, server: Server, tmp_path: Path) -> None:
    tab = page
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "rota.md").write_bytes(docs.markdown("Rota", {"Weekend": "The weekend duty officer is Ines Vaz."}))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    sign_in(tab, server)
    create_collection(tab, "rota")
    tab.click(".tab[data-view=sources]")
    tab.wait_for_selector("#sources-empty:not([hidden])")
    tab.fill("#source-path", str(folder))
    tab.fill("#source-schedule", "*/15 * * * *")
    assert tab.text_content("#schedule-preview") == "Every 15 minutes."
    tab.fill("#source-schedule", "30 6 * * 1-5")
    assert tab.text_content("#schedule-preview") == "At 06:30 UTC, on Monday to Friday."
    tab.fill("#source-schedule", "30 6 *")
    assert "five fields" in tab.text_content("#schedule-preview")
    tab.fill("#source-schedule", "0 7 * * *")
    tab.click("#source-form button[type=submit]")
    tab.wait_for_selector("#sources li")
    assert "At 07:00 UTC, every day." in tab.text_content("#sources")
    tab.click("#sources button")                                      # sync now, followed to the end
    tab.wait_for_function("document.getElementById('notice').textContent.includes('Sync of')"
                          " && !document.getElementById('notice').textContent.includes('…')", timeout=180_000)
    tab.wait_for_selector("#jobs .errors li")
    assert "broken.pdf" in tab.text_content("#jobs")                 # per-file errors in the history
    shot(tab, "08-sources")

    tab.click(".tab[data-view=status]")
    tab.wait_for_selector("#status-indexes tbody tr")
    assert "in sync" in tab.text_content("#status-indexes") and "Embedding" in tab.text_content("#status-models")
    shot(tab, "09-status")

    # Phone width: nothing wider than the screen.
    tab.set_viewport_size({"width": 375, "height": 800})
    for view in ("ask", "documents", "sources", "status"):
        tab.click(f".tab[data-view={view}]")
        tab.wait_for_timeout(300)
        assert tab.evaluate("document.documentElement.scrollWidth") <= 375, view
    tab.click(".tab[data-view=documents]")
    shot(tab, "10-phone")
    tab.set_viewport_size({"width": 1280, "height": 900})

    # Keyboard only: reach Ask with Tab, ask with Enter, open and close a citation.
    tab.focus(".tab[data-view=documents]")
    tab.keyboard.press("Shift+Tab")
    tab.keyboard.press("Enter")
    assert tab.is_visible("#view-ask")
    tab.focus("#question")
    tab.keyboard.type("Who is the weekend duty officer?")
    tab.keyboard.press("Enter")
    tab.wait_for_selector("#answer-text .cite", timeout=120_000)
    tab.focus("#answer-text .cite")
    tab.keyboard.press("Enter")
    tab.wait_for_selector("#citation:not([hidden])")
    assert tab.evaluate("document.activeElement.id") == "citation"
    tab.keyboard.press("Escape")
    assert tab.is_hidden("#citation") and tab.evaluate("document.activeElement.className") == "cite"
    unlabelled = tab.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.id)""")
    assert unlabelled == []


def test_the_policy_blocks_inline_script(browser, server: Server) -> None:
    tab = open_tab(browser, server, bypass_csp=False)
    try:
        tab.goto(server.base + "/")
        tab.wait_for_selector("#sign-in:not([hidden])")              # the page's own module runs
        try:
            tab.add_script_tag(content="window.__inline = 'ran'")
        except Exception:  # noqa: BLE001 - Chromium may report the refused script as an error
            pass
        assert tab.evaluate("() => window.__inline") is None
        assert tab.outside == []
    finally:
        tab.context.close()


def test_api_docs_render_offline(browser, server: Server) -> None:
    """Under their own policy (no bypass): ReDoc's "powered by" logo, which it links from its
    CDN, is refused by the policy and never requested."""
    tab = open_tab(browser, server, bypass_csp=False)
    try:
        tab.goto(server.base + "/docs")
        tab.wait_for_selector(".swagger-ui .info .title", timeout=60_000)
        assert "Groundwork" in tab.text_content(".swagger-ui .info .title")
        assert tab.locator(".opblock").count() >= 20                  # the operations are listed
        shot(tab, "11-docs")
        tab.goto(server.base + "/redoc")
        tab.wait_for_selector("h1", timeout=60_000)
        assert "Groundwork" in tab.text_content("h1")
        assert tab.outside == [] and tab.errors == []
    finally:
        tab.context.close()
