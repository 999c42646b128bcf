"""Sphinx extension: pages load nothing from the internet when they are viewed.

MathJax and the widget manager are vendored (see _config.yml and
scripts/vendor_web_assets.py). What is left are images and raw HTML in the
pages themselves, e.g. the "Open in Colab" badge at the top of every lab
notebook, which must stay a remote image in the notebook (Colab and GitHub
show it there). This extension swaps such images for the local copies in
LOCAL_COPIES and makes any other remote image, script, stylesheet or frame a
build warning, so `jupyter-book build -W` (make book, make test) fails on it.
Links (<a href="https://...">) are fine: they load nothing until clicked.

It also drops a duplicated inline script: Sphinx 7.4 writes an inline
(body-only) script that an extension registers after the builder started
twice on every page (once as filename None, once as ''), and sphinx-thebe's
`const THEBE_JS_URL = ...` then throws "Identifier 'THEBE_JS_URL' has already
been declared" in every reader's console (tests/test_browser.py checks that
pages log no JavaScript error).
"""
import posixpath
import re

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

# remote image -> its copy under _static/ (from book/_static/)
LOCAL_COPIES = {
    "https://colab.research.google.com/assets/colab-badge.svg": "_static/colab-badge.svg",
}
REMOTE_RESOURCE = re.compile(
    r"<(?:img|script|iframe|link|source|video|audio|embed|object)\b[^>]*?\s(?:src|href|data)\s*=\s*[\"']?(?:https?:)?//[^\"'\s>]+",
    re.IGNORECASE,
)


def is_remote(uri: str) -> bool:
    return "://" in uri or uri.startswith("//")


def localize(app, doctree, docname: str) -> None:
    start = posixpath.dirname(docname) or "."
    for image in doctree.findall(nodes.image):
        uri = image["uri"]
        if not is_remote(uri):
            continue
        if uri in LOCAL_COPIES:
            local = posixpath.relpath(LOCAL_COPIES[uri], start)
            image["uri"] = local
            image["candidates"] = {"?": local}
        else:
            logger.warning(f"image {uri} would be fetched from the internet whenever the page is viewed: "
                           "use a local file (or add a local copy to book/_ext/offline_book.py's LOCAL_COPIES)",
                           location=image, type="offline_book")
    for raw in doctree.findall(nodes.raw):
        if "html" not in raw.get("format", "").split():
            continue
        for match in REMOTE_RESOURCE.finditer(raw.astext()):
            logger.warning(f"raw HTML loads {match.group(0)[:160]!r} from the internet whenever the page is viewed: "
                           "use a local file", location=raw, type="offline_book")


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (getattr(script, "filename", script) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("doctree-resolved", localize)
    app.connect("html-page-context", drop_duplicate_scripts)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
