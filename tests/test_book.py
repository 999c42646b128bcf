"""The book builds with warnings as errors, and the HTML has what a reader needs.

This build executes the chapters (book/*.md) and lab 01 (conftest.py's
BOOK_EXECUTED_LABS: widget state for tests/test_browser.py) but no other lab:
nbval has already executed every lab in this test run (`make book` executes
everything). Execution errors are warnings in Jupyter Book, so `-W` fails on
them too. The build is shared with tests/test_browser.py (conftest.py's
`book_build`).
"""
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_SLUG = CONFIG["repository"]["url"].rstrip("/").removeprefix("https://github.com/")
LABS = sorted((ROOT / "labs").glob("*.ipynb"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def html(book_build) -> Path:
    assert book_build.ok, "book build failed or warned:\n" + book_build.problems
    return book_build.html


def page(html: Path, name: str) -> str:
    path = html / name
    assert path.is_file(), f"{name} was not built"
    return path.read_text()


def test_index_leads_to_the_preface(html):
    assert "book/preface.html" in page(html, "index.html")


def test_preface_shows_profile_report_and_measured_times(html):
    text = page(html, "book/preface.html")
    assert "profile" in text and "small" in text
    timing = text[text.index('id="how-long-each-lab-takes"'):]
    timing = timing[: timing.index('id="conventions"')]
    assert "<table" in timing, "the timing table must render as a table, not as raw Markdown"
    assert "00_getting_started" in timing and "not measured yet" in timing


def test_chapter_one_has_math_figure_and_citations(html):
    text = page(html, "book/foundation_models.html")
    assert re.search(r"<img [^>]*src=\"[^\"]+\.png\"", text), "chapter 1 needs its executed figure"
    assert "bibliography.html#" in text, "chapter 1 cites the bibliography"
    assert "Bommasani" in text


def test_bibliography_lists_real_references(html):
    text = page(html, "book/bibliography.html")
    for title in ("Attention is all you need", "BERT", "On the opportunities and risks of foundation models"):
        assert title.lower() in text.lower(), f"bibliography lacks {title!r}"


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_every_lab_page_has_a_colab_launch_link(html, lab):
    text = page(html, f"labs/{lab.stem}.html")
    link = f"https://colab.research.google.com/github/{REPO_SLUG}/blob/main/labs/{lab.name}"
    assert link in text


def test_no_page_shows_an_error(html):
    for path in html.rglob("*.html"):
        text = path.read_text()
        assert "Traceback (most recent call last)" not in text, f"{path.name} shows a traceback"
        assert 'class="output traceback' not in text, f"{path.name} shows an error output"
