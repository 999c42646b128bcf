"""Execute lab notebooks in the small profile and keep only the outputs nbval checks.

Usage: python scripts/store_checked_outputs.py labs/00_getting_started.ipynb [...]

Notebooks in labs/ are committed without outputs, except for the cells marked
``# NBVAL_CHECK_OUTPUT``: nbval compares those cells' fresh output with the
stored one, so they must hold the output of a real run. This script produces
that run (offline, small profile, one torch thread) and clears everything else.
tests/test_notebook_hygiene.py checks that the committed notebooks look like this.
"""
import os
import sys

import nbclient
import nbformat

CHECK_MARKER = "# NBVAL_CHECK_OUTPUT"


def keeps_output(cell) -> bool:
    return cell.cell_type == "code" and CHECK_MARKER in cell.source


def store(path: str) -> None:
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": os.path.dirname(path) or "."}}
    )
    client.execute()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if not keeps_output(cell):  # nbval needs the execution count of a checked cell
            cell.execution_count = None
            cell.outputs = []
        cell.metadata.pop("execution", None)
    notebook.metadata.pop("widgets", None)  # widget state of this run: the book build makes its own
    nbformat.write(notebook, path)
    print(f"{path}: stored the outputs of {sum(keeps_output(c) for c in notebook.cells)} checked cell(s)")


if __name__ == "__main__":
    os.environ.setdefault("LABLIB_PROFILE", "small")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for notebook_path in sys.argv[1:]:
        store(notebook_path)
