"""Test-wide set-up: the small profile, offline, with the network blocked.

`make test` sets the same variables; setting them here too means that a bare
`pytest` behaves the same way. Jupyter kernels started by nbval inherit them:
the hub libraries see HF_HUB_OFFLINE, and any other HTTP(S) download goes to
a dead proxy and fails loudly. In this process pytest-socket blocks every
connection except to loopback (see `--allow-hosts` in pyproject.toml).
"""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

_DEAD_PROXY = "http://127.0.0.1:9"
for _name, _value in {
    "LABLIB_PROFILE": "small",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "OMP_NUM_THREADS": "1",
    "HTTP_PROXY": _DEAD_PROXY,
    "HTTPS_PROXY": _DEAD_PROXY,
    "http_proxy": _DEAD_PROXY,
    "https_proxy": _DEAD_PROXY,
    "NO_PROXY": "127.0.0.1,localhost,::1",
    "no_proxy": "127.0.0.1,localhost,::1",
}.items():
    os.environ.setdefault(_name, _value)


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
