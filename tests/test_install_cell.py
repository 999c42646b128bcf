"""The Colab install cell of every lab keeps Colab's torch and transformers.

The cell is executed here for real, except for its `pip install` (which only
runs on Colab); then pip resolves, offline and without installing anything,
what that install would do in this environment, which already has torch and
transformers -- as Colab has.
"""
import json
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
