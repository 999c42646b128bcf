"""Print a pinned constraints file from the current environment (used by `make lock`).

The header keeps torch on the CPU build this project uses (torch==2.13.0);
lablib itself is left out, since it is installed from the working tree.
"""
import subprocess
import sys

HEADER = """\
# Pinned set-up for our own environment (make test / make book / CI).
# Used as a pip *constraints* file: pyproject.toml gives ranges, this file pins them.
# Regenerate with: make lock   (then review the diff).
# torch: the CPU build (2.13.0+cpu); an unpinned torch pulls a multi-GB CUDA build.
torch==2.13.0
"""

freeze = subprocess.run(
    [sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"],
    check=True, capture_output=True, text=True,
).stdout.splitlines()
lines = [l for l in freeze if l and not l.startswith(("torch==", "pip==", "lablib", "-e "))]
sys.stdout.write(HEADER + "\n".join(sorted(lines, key=str.lower)) + "\n")
