"""The rendered book works with no internet, checked in a real browser.

Readers behind firewalls, or where public CDNs are slow or blocked, must see
typeset math and drawn widgets: the book serves its own MathJax, RequireJS and
ipywidgets manager from `_static/vendor/` (scripts/vendor_web_assets.py,
_config.yml) and its own Colab badge (book/_ext/offline_book.py).

The first tests read the built HTML and need no browser. The others serve the
test build (conftest.py's `book_build`, shared with tests/test_book.py) on a
loopback port and open every page of the table of contents in headless
Chromium (Debian's /usr/bin/chromium, driven by Playwright; `make test`
installs it with apt when it can). Every request the pages make is recorded,
and anything not on 127.0.0.1 is aborted and fails the test. Screenshots of
chapter 1 and lab 01 go to _build/test-artifacts/ for a person to look at.
"""
import functools
from html.parser import HTMLParser
import http.server
import os
import re
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "_build" / "test-artifacts"
SCREENSHOTS = {"book/foundation_models": "chapter1.png", "labs/01_loss_math": "lab01.png"}
WIDGET_PAGE = "labs/01_loss_math"  # executed in the test build (conftest.BOOK_EXECUTED_LABS)
SEARCH_WORD = "encyclopaedias"  # a word of chapter 1 (book/foundation_models.md)
# The probe's flags for Chromium on a machine with no network; Playwright adds
# --headless, --no-sandbox, a fresh --user-data-dir and the other background switches.
CHROMIUM_ARGS = [
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # belt and braces: no name resolves
]

pytestmark = pytest.mark.slow


def toc_pages() -> list[str]:
    """Every page of _toc.yml, as docnames (book/preface, labs/01_loss_math, ...)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return [str(Path(p).with_suffix("")) for p in pages]


PAGES = toc_pages()
LABS = [p for p in PAGES if p.startswith("labs/")]


@pytest.fixture(scope="module")
def html(book_build) -> Path:
    assert book_build.ok, "book build failed or warned:\n" + book_build.problems
    return book_build.html


# ---------------------------------------------------------------- no browser needed


def test_vendored_files_match_the_pinned_npm_tarballs():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import vendor_web_assets
    finally:
        sys.path.pop(0)
    assert vendor_web_assets.check() == []


class _Resources(HTMLParser):
    """The URLs a page loads by itself (scripts, styles, images, frames), not the links a reader clicks."""

    LOADING = {"script": "src", "img": "src", "iframe": "src", "source": "src", "video": "src",
               "audio": "src", "embed": "src", "object": "data", "input": "src"}

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in self.LOADING and attrs.get(self.LOADING[tag]):
            self.urls.append((tag, attrs[self.LOADING[tag]]))
        if tag == "link" and attrs.get("href") and set((attrs.get("rel") or "").split()) & {
                "stylesheet", "preload", "modulepreload", "icon", "prefetch", "manifest"}:
            self.urls.append((tag, attrs["href"]))
        for name in ("srcset", "data-src", "poster"):
            if attrs.get(name):
                self.urls.append((tag, attrs[name]))


def is_remote(url: str) -> bool:
    return bool(re.match(r"^\s*(https?:)?//", url))


def test_no_page_or_stylesheet_loads_anything_from_the_internet(html):
    remote = []
    for path in sorted(html.rglob("*.html")):
        parser = _Resources()
        parser.feed(path.read_text())
        remote += [f"{path.relative_to(html)}: <{tag}> {url}" for tag, url in parser.urls if is_remote(url)]
    for path in sorted((html / "_static").rglob("*.css")):
        text = re.sub(r"/\*.*?\*/", "", path.read_text(errors="replace"), flags=re.S)  # comments load nothing
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)|@import\s+['\"]([^'\"]+)", text):
            url = next(u for u in url if u)
            if is_remote(url):
                remote.append(f"{path.relative_to(html)}: {url}")
    assert not remote, "pages would fetch these from the internet:\n" + "\n".join(remote)


def test_math_and_widget_scripts_come_from_the_vendored_copies(html):
    lab = (html / f"{WIDGET_PAGE}.html").read_text()
    assert 'type="application/vnd.jupyter.widget-state+json"' in lab, f"{WIDGET_PAGE} has no saved widget state"
    scripts = re.findall(r'<script[^>]* src="([^"]+)"', lab)
    vendored = [s for s in scripts if "_static/vendor/" in s]
    names = [Path(urlsplit(s).path).name for s in vendored]
    assert names == ["tex-mml-svg.js", "require.js", "embed-amd.js"], (
        f"expected MathJax, then RequireJS before the widget manager, all from _static/vendor: {vendored}")
    setup = [s for s in scripts if Path(urlsplit(s).path).name == "widgets-setup.js"]
    assert setup and scripts.index(vendored[1]) < scripts.index(setup[0]) < scripts.index(vendored[2]), (
        "widgets-setup.js must run between require.js and embed-amd.js")


# ---------------------------------------------------------------- in Chromium


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(html):
    """The test build served on a loopback port, like `make serve`."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; `make test` does it as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# Run in the page once it has loaded: what a reader would see.
MATH_STATE = r"""() => {
  const math = [...document.querySelectorAll('.math')];
  const untypeset = math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.trim().slice(0, 80));
  const errors = [...document.querySelectorAll('mjx-merror, [data-mjx-error]')]
      .map(e => e.getAttribute('data-mjx-error') || e.textContent.slice(0, 80));
  const raw = [];
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent, parent = walker.currentNode.parentElement;
    if (!/\$\$|\\\(|\\\[/.test(text)) continue;
    if (parent.closest('pre, code, script, style, textarea, mjx-container, .highlight')) continue;
    if (parent.checkVisibility && !parent.checkVisibility()) continue;
    raw.push(text.trim().slice(0, 80));
  }
  return {math: math.length, containers: document.querySelectorAll('mjx-container').length, untypeset, errors, raw};
}"""
WIDGET_STATE = r"""() => {
  const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
  const drawn = views.filter(v => {
    const area = v.previousElementSibling;
    return area && area.classList.contains('widget-subarea') && area.querySelector('.jupyter-widgets')
        && area.getBoundingClientRect().height > 0;
  });
  return {views: views.length, drawn: drawn.length,
          ids: views.filter(v => !drawn.includes(v)).map(v => JSON.parse(v.textContent).model_id)};
}"""


class Visit:
    """One page opened in a fresh browser context, with everything it requested and logged."""

    def __init__(self, browser, base: str, path: str, screenshot: Path | None = None):
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        self.url, self.requests, self.external, self.errors = base + path, [], [], []
        context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
        context.set_default_timeout(120_000)  # waits on a busy 2-core CI machine; failures are still reported
        context.route("**/*", self._route)
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("response", lambda r: r.status >= 400 and self.errors.append(f"HTTP {r.status}: {r.url}"))
        page.on("requestfailed", lambda r: self._local(r.url) and self.errors.append(f"failed: {r.url} {r.failure}"))
        try:
            page.goto(self.url, wait_until="load")
            if page.evaluate("() => !!document.querySelector('script[src*=\"vendor/mathjax\"]')"):
                page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.evaluate("() => MathJax.startup.promise.then(() => true)")
            try:  # the widget manager draws asynchronously; a view never drawn is reported below
                page.wait_for_function(f"() => {{ const s = ({WIDGET_STATE})(); return s.drawn === s.views; }}",
                                       timeout=20_000)
            except PlaywrightTimeout:
                pass
            # generous: on the 2-core CI machine the other test worker may be executing a notebook meanwhile
            page.wait_for_load_state("networkidle", timeout=120_000)
            self.math = page.evaluate(MATH_STATE)
            self.widgets = page.evaluate(WIDGET_STATE)
            self.colab_links = page.eval_on_selector_all(
                'a[href^="https://colab.research.google.com/github/"]', "els => els.map(e => e.href)")
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
            self.page, self.context = page, context
        except Exception:
            context.close()
            raise

    @staticmethod
    def _local(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1"

    def _route(self, route):
        url = route.request.url
        self.requests.append(url)
        if self._local(url):
            route.continue_()
        else:
            self.external.append(url)
            route.abort("blockedbyclient")

    def close(self):
        self.context.close()


@pytest.fixture(scope="module")
def visits(browser, site):
    """Each page of the table of contents, opened once (lazily) and kept for the tests below."""
    opened = {}

    def visit(page: str) -> Visit:
        if page not in opened:
            shot = ARTIFACTS / SCREENSHOTS[page] if page in SCREENSHOTS else None
            opened[page] = Visit(browser, site, f"{page}.html", shot)
            opened[page].close()
        return opened[page]

    return visit


@pytest.mark.parametrize("page", PAGES)
def test_page_requests_nothing_outside_the_machine(visits, page):
    visit = visits(page)
    assert visit.requests, f"{page}: no request recorded at all"
    assert not visit.external, f"{page} asked the internet for:\n" + "\n".join(visit.external)


@pytest.mark.parametrize("page", PAGES)
def test_page_logs_no_javascript_error(visits, page):
    visit = visits(page)
    assert not visit.errors, f"{page}:\n" + "\n".join(visit.errors)


@pytest.mark.parametrize("page", PAGES)
def test_math_is_typeset(visits, page):
    math = visits(page).math
    assert not math["untypeset"], f"{page}: MathJax left these as TeX: {math['untypeset'][:5]}"
    assert not math["errors"], f"{page}: MathJax could not typeset: {math['errors'][:5]}"
    assert not math["raw"], f"{page}: raw TeX delimiters in the visible text: {math['raw'][:5]}"
    assert math["containers"] >= math["math"]


def test_the_math_chapters_have_math(visits):
    for page in ("book/loss_math", "book/transformer", WIDGET_PAGE):
        assert visits(page).math["containers"] > 0, f"{page}: no MathJax output; is the math check checking anything?"


@pytest.mark.parametrize("page", PAGES)
def test_every_embedded_widget_is_drawn(visits, page):
    widgets = visits(page).widgets
    assert widgets["drawn"] == widgets["views"], f"{page}: widget views not drawn (model ids {widgets['ids']})"


def test_the_widget_lab_has_drawn_widgets(visits):
    widgets = visits(WIDGET_PAGE).widgets
    assert widgets["views"] > 0, f"{WIDGET_PAGE} has no widget view: was it executed in the test build?"
    assert widgets["drawn"] == widgets["views"]


@pytest.mark.parametrize("page", LABS)
def test_lab_page_has_its_colab_launch_link(visits, page):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    slug = config["repository"]["url"].rstrip("/").removeprefix("https://github.com/")
    link = f"https://colab.research.google.com/github/{slug}/blob/main/{page}.ipynb"
    assert link in visits(page).colab_links, f"{page}: no Colab launch link {link}; found {visits(page).colab_links}"


def test_search_finds_a_word_from_chapter_one(browser, site):
    assert SEARCH_WORD in (ROOT / "book" / "foundation_models.md").read_text(), "pick another SEARCH_WORD"
    visit = Visit(browser, site, f"search.html?q={SEARCH_WORD}")
    try:
        visit.page.wait_for_selector("#search-results ul.search li a", timeout=30_000)
        hits = visit.page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.href)")
    finally:
        visit.close()
    assert any("book/foundation_models.html" in hit for hit in hits), f"searching {SEARCH_WORD!r} found {hits}"
    assert not visit.external and not visit.errors, visit.external + visit.errors


def test_screenshots_for_a_person_to_look_at(visits):
    for page, name in SCREENSHOTS.items():
        visits(page)
        shot = ARTIFACTS / name
        assert shot.is_file() and shot.stat().st_size > 10_000, f"no screenshot of {page} at {shot}"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
