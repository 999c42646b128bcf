"""Test-wide set-up: the small profile, offline, with the network blocked.

`make test` sets the same variables; setting them here too means that a bare
`pytest` behaves the same way. Jupyter kernels started by nbval inherit them:
the hub libraries see HF_HUB_OFFLINE, and any other HTTP(S) download goes to
a dead proxy and fails loudly. In this process pytest-socket blocks every
connection except to loopback (see `--allow-hosts` in pyproject.toml).

TQDM_MININTERVAL: a progress bar redraws at most every 5 s in the kernels.
nbval reads a kernel's IOPub messages only after a cell has finished; a
notebook bar sends widget messages at every redraw (10 a second by default),
and past ZeroMQ's queue limit (about a thousand messages) the kernel's last
message, "idle", is dropped, so a long cell fails with "Timeout of 5 seconds
exceeded waiting for output" (lab 07's five pretraining runs did, on CI).
"""
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

_DEAD_PROXY = "http://127.0.0.1:9"
for _name, _value in {
    "LABLIB_PROFILE": "small",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "OMP_NUM_THREADS": "1",
    "TQDM_MININTERVAL": "5",
    "HTTP_PROXY": _DEAD_PROXY,
    "HTTPS_PROXY": _DEAD_PROXY,
    "http_proxy": _DEAD_PROXY,
    "https_proxy": _DEAD_PROXY,
    "NO_PROXY": "127.0.0.1,localhost,::1",
    "no_proxy": "127.0.0.1,localhost,::1",
}.items():
    os.environ.setdefault(_name, _value)


#: Seconds of the slow test modules in CI's `--durations` (the labs' own come from book/lab_times.json).
#: tests/test_book.py runs last: it reads the build that tests/test_browser.py makes, so it never waits for it.
_SLOW_TEST_MODULES = {"tests/test_browser.py": 150.0, "tests/test_ner_integration.py": 80.0,
                      "tests/test_book.py": -1.0}


def _expected_seconds(path: str, lab_seconds: dict) -> float:
    if path.startswith("labs/") and path.endswith(".ipynb"):
        return lab_seconds.get(Path(path).stem, 60.0)  # a lab not measured yet: about a minute
    return _SLOW_TEST_MODULES.get(path, 0.0)


def pytest_collection_modifyitems(config, items):
    """Run the longest files first (labs, the book build), so that pytest-xdist's two workers end together.

    Under `--dist loadscope` a worker takes a whole file (a notebook's cells share a kernel) in the order
    collected; a long lab that starts last would leave the other worker idle for minutes (issue 17).
    The sort is stable, and the same in every worker, as xdist requires.
    """
    times = json.loads((ROOT / "book" / "lab_times.json").read_text())["tiers"]
    lab_seconds = {lab: entry["seconds"] for tier in times.values() for lab, entry in tier["labs"].items()}
    items.sort(key=lambda item: -_expected_seconds(Path(item.path).relative_to(ROOT).as_posix(), lab_seconds))


def pytest_configure(config):
    try:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ImportError:
        pass


@pytest.fixture
def shared_data() -> Path:
    """The reference data in ../shared/data; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (only on the course's own machines)")
    return SHARED_DATA


# The test build executes the chapters (book/*.md) and these labs; nbval has
# already executed every lab. Lab 01 is executed here because the browser test
# needs a page with saved widget state (its softmax explorer) and with math.
BOOK_EXECUTED_LABS = ("labs/01_loss_math.ipynb",)


@dataclass
class BookBuild:
    html: Path  # _build/html of the test build
    ok: bool  # exit code 0 and no Sphinx warning
    problems: str  # the warnings, or the end of the log


def _build_book(out: Path) -> dict:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["exclude_patterns"] = [
        f"labs/{lab.name}" for lab in sorted((ROOT / "labs").glob("*.ipynb")) if f"labs/{lab.name}" not in BOOK_EXECUTED_LABS
    ]
    # paths in local_extensions are relative to the config file, which lives in `out` here
    config["sphinx"]["local_extensions"] = {
        name: str(ROOT / path) for name, path in config["sphinx"].get("local_extensions", {}).items()
    }
    config_path = out / "_config.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))  # keeps the order of nb_ipywidgets_js
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "--config", str(config_path), "--path-output", str(out),
         "-W", "--keep-going"],
        capture_output=True, text=True, timeout=1200,
    )
    log = result.stdout + result.stderr
    # Sphinx's own warnings ("file: WARNING: ..."), not the kernels' log lines ("[IPKernelApp] WARNING | ...")
    warnings = [line for line in log.splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL):", line)]
    return {"ok": result.returncode == 0 and not warnings,
            "problems": "\n".join(warnings or log.splitlines()[-40:])}


@pytest.fixture(scope="session")
def book_build(tmp_path_factory) -> BookBuild:
    """The book, built once per test run with warnings as errors (tests/test_book.py, tests/test_browser.py).

    Under pytest-xdist every worker has its own session, so the workers share
    one build in the run's common temporary folder: the first one builds while
    holding a file lock, the others wait for it and read its result.
    """
    from filelock import FileLock  # a dependency of torch

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder, common to all workers
    out, record = shared / "book", shared / "book-build.json"
    with FileLock(str(shared / "book-build.lock")):
        if not record.is_file():
            out.mkdir(exist_ok=True)
            record.write_text(json.dumps(_build_book(out)))
    result = json.loads(record.read_text())
    return BookBuild(html=out / "_build" / "html", ok=result["ok"], problems=result["problems"])
