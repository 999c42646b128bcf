"""No test and no small-profile lab reaches the network: a stray download fails loudly."""
import os
import socket
import subprocess
import sys

import pytest
from pytest_socket import SocketConnectBlockedError


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_this_process_cannot_connect_outside():
    with pytest.raises(SocketConnectBlockedError, match="203.0.113.1"):
        socket.create_connection(("203.0.113.1", 443), timeout=2)  # TEST-NET-3, never routed


def test_kernels_and_subprocesses_get_a_dead_proxy_and_offline_hub():
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    code = "import urllib.request; urllib.request.urlopen('https://huggingface.co', timeout=5)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Connection refused" in result.stderr or "URLError" in result.stderr, result.stderr[-500:]
