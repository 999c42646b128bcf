"""The Colab install cell of every lab keeps Colab's torch and transformers.

The cell is executed here for real, except for its `pip install` (which only
runs on Colab); then pip resolves, offline and without installing anything,
what that install would do in this environment, which already has torch and
transformers -- as Colab has.

In `make test-colab` (an environment at Colab's versions, colab-versions.txt)
the last test also runs the cell's pip commands as a dry run against PyPI and
reads pip's report: none of Colab's big libraries may move.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "labs").glob("*.ipynb"))


def install_cell_source(lab: Path) -> str:
    notebook = nbformat.read(lab, as_version=4)
    return next(c.source for c in notebook.cells if "colab-install" in c.metadata.get("tags", []))


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_install_cell_does_nothing_outside_colab(lab):
    namespace: dict = {}
    exec(compile(install_cell_source(lab), str(lab), "exec"), namespace)
    pins = namespace["keep_preinstalled"]()
    import torch
    import transformers

    assert f"torch=={torch.__version__}" in pins
    assert f"transformers=={transformers.__version__}" in pins


@pytest.mark.slow
def test_installing_lablib_reinstalls_neither_torch_nor_transformers(tmp_path):
    namespace: dict = {}
    exec(compile(install_cell_source(LABS[0]), "install cell", "exec"), namespace)
    constraints = tmp_path / "keep-preinstalled.txt"
    constraints.write_text("\n".join(namespace["keep_preinstalled"]()) + "\n")
    report = tmp_path / "report.json"
    # The same pip call as on Colab, with the repository's working tree in place
    # of the git URL, and --dry-run --no-index so nothing is installed or fetched.
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-build-isolation",
         "--quiet", "--report", str(report), "-c", str(constraints), str(ROOT)],
        check=True, cwd=tmp_path,
    )
    would_install = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert "lablib" in would_install
    assert not would_install & {"torch", "transformers", "datasets", "tokenizers", "huggingface-hub"}, would_install


# --- The install cell with Colab's own libraries (run by `make test-colab`) ---
# Colab's libraries that the cell must leave alone: upgrading, downgrading or
# reinstalling any of them costs a student minutes and often a broken runtime.
PROTECTED = ("torch", "transformers", "datasets", "tokenizers", "ipywidgets", "huggingface-hub", "peft")
COLAB_VERSIONS = ROOT / "colab-versions.txt"
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_pins() -> dict[str, str]:
    """{name: version} from colab-versions.txt."""
    pins = {}
    for line in COLAB_VERSIONS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[_canonical(name)] = version.strip()
    return pins


def not_at_colab_versions() -> list[str]:
    """The protected libraries (torch aside: ours is the CPU build) not at Colab's versions here."""
    from importlib import metadata

    pins = colab_pins()
    wrong = []
    for name in PROTECTED:
        if name == "torch":
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != pins.get(name):
            wrong.append(f"{name} {installed} (Colab: {pins.get(name)})")
    return wrong


def cell_pip_calls(source: str, monkeypatch) -> tuple[dict, list[list[str]]]:
    """Run an install cell as on Colab, recording its pip commands instead of running them."""
    import types

    calls: list[list[str]] = []

    def record(command, *args, **kwargs):
        calls.append([str(part) for part in command])
        return subprocess.CompletedProcess(command, 0)

    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
        patch.setattr(subprocess, "run", record)
        namespace: dict = {}
        exec(compile(source, "colab-install cell", "exec"), namespace)
    return namespace, calls


def test_colab_pins_are_exact_and_cover_the_protected_libraries():
    pins = colab_pins()
    for line in COLAB_VERSIONS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        assert not line or re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][0-9A-Za-z.+]*", line), line
    assert "torch" not in pins, "torch is pinned in the Makefile (the CPU build), not in colab-versions.txt"
    assert {name for name in PROTECTED if name != "torch"} <= set(pins)


@pytest.mark.slow
def test_colab_install_cell_moves_none_of_colabs_libraries(tmp_path, monkeypatch):
    """pip's own report of the install cell, run in an environment at Colab's versions.

    The cell's pip commands are run as a student's would be, with two changes:
    `--dry-run --report` (nothing is installed), and this working tree in place
    of the cell's `git+https://github.com/...` source of lablib, which is out of
    reach here. pip resolves from PyPI, where newer releases of every protected
    library exist, so a cell that let pip move one would show it here.
    """
    wrong = not_at_colab_versions()
    if wrong:
        pytest.skip("this environment is not at Colab's versions (make test-colab runs this test "
                    "in .venv-colab): " + ", ".join(wrong))
    from importlib import metadata

    installed = {name: metadata.version(name) for name in PROTECTED}
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARIABLES}  # PyPI only; the hub stays off
    cells: dict[str, list[str]] = {}  # one dry run for each distinct install cell
    for lab in LABS:
        cells.setdefault(install_cell_source(lab), []).append(lab.name)
    for cell_number, (source, labs) in enumerate(cells.items()):
        namespace, calls = cell_pip_calls(source, monkeypatch)
        assert len(calls) == 2, (labs, calls)  # lablib with its constraints, then the offline encoder
        constraints = Path(calls[0][calls[0].index("-c") + 1]).read_text().split()
        for name in ("torch", "transformers", "datasets", "tokenizers", "huggingface-hub"):
            assert f"{name}=={installed[name]}" in constraints, (labs, name, constraints)
        dry_run_cell(namespace, calls, installed, env, tmp_path / f"cell-{cell_number}", labs)


def dry_run_cell(namespace: dict, calls: list[list[str]], installed: dict, env: dict, folder: Path, labs: list):
    """Each pip command of a cell as `--dry-run --report`; fail if pip would move a protected library."""
    folder.mkdir()
    local_lablib = f"lablib @ {ROOT.as_uri()}"
    for number, call in enumerate(calls):
        assert call[:4] == [sys.executable, "-m", "pip", "install"], call
        report = folder / f"report-{number}.json"
        command = call[:4] + ["--dry-run", "--report", str(report)] + [
            local_lablib if part == namespace["LABLIB_SOURCE"] else part for part in call[4:]
        ]
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        would_install = {
            _canonical(item["metadata"]["name"]): item["metadata"]["version"]
            for item in json.loads(report.read_text())["install"]
        }
        if number == 0:
            assert "lablib" in would_install, would_install  # the dry run did resolve lablib
        moved = {name: f"{installed[name]} -> {would_install[name]}" for name in PROTECTED if name in would_install}
        assert not moved, f"the install cell of {labs} would reinstall Colab's {moved} ({' '.join(call[4:])})"


def test_readme_pins_colabs_checked_versions_in_one_cell():
    """The README's "If Colab breaks" cell pins exactly the versions colab-versions.txt tests."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## If Colab breaks", 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"^!pip install (.*)$", section, re.M)
    assert len(cells) == 1, cells
    pins = colab_pins()
    pinned = [part for part in cells[0].split() if "==" in part]
    assert pinned, cells[0]
    for part in pinned:
        name, version = part.split("==")
        assert pins.get(_canonical(name)) == version, f"README pins {part}, colab-versions.txt has {pins.get(_canonical(name))}"
    assert not any(part.startswith("torch") for part in pinned), "a student keeps Colab's own (CUDA) torch"
    date = re.search(r"Last checked: (\d{4}-\d{2}-\d{2})", COLAB_VERSIONS.read_text()).group(1)
    assert f"last checked {date}" in section


def test_every_lab_has_the_one_install_cell_of_this_release():
    """scripts/install_cell.py is the one text of the cell; it pins lablib to this release's tag, not main."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import install_cell
    finally:
        sys.path.pop(0)
    assert install_cell.main(["--check"]) == 0, "run python scripts/install_cell.py"
    import lablib

    source = install_cell_source(LABS[0])
    assert f'LABLIB_REF = "v{install_cell.version()}"' in source
    assert install_cell.version() == lablib.__version__, "bump lablib.__version__ with pyproject's version"
    assert "@main" not in source and '{ display-mode: "form" }' in source.splitlines()[0]
    tags = nbformat.read(LABS[0], as_version=4).cells
    assert any("hide-input" in c.metadata.get("tags", []) for c in tags), "the book shows the cell folded"


def test_a_failing_pip_shows_its_own_error_and_what_to_do(monkeypatch):
    import types

    def failing_pip(command, *args, **kwargs):
        return subprocess.CompletedProcess(command, 1, stdout="",
                                           stderr="ERROR: Cannot install lablib because transformers==6.0.0 conflicts")

    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
        patch.setattr(subprocess, "run", failing_pip)
        with pytest.raises(RuntimeError) as error:
            exec(compile(install_cell_source(LABS[0]), "colab-install cell", "exec"), {})
    message = str(error.value)
    assert "transformers==6.0.0 conflicts" in message and "If Colab breaks" in message
    assert "CalledProcessError" not in message
