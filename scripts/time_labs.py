"""Measure how long each lab takes, and record it for the preface's table.

Usage: python scripts/time_labs.py --tier "2 CPU cores (CI machine)" [labs/00_getting_started.ipynb ...]

Runs each notebook from a fresh kernel in the active profile (LABLIB_PROFILE;
default small, offline) and stores the wall-clock time in book/lab_times.json
under the given hardware tier, with the date, profile, CPU count, GPU and
library versions. The preface renders that file in an executed cell, so every
time the book states was measured by this script, never typed in.
"""
import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMES = ROOT / "book" / "lab_times.json"


def run(path: Path) -> float:
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=3600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tier", required=True, help="hardware tier name, e.g. '2 CPU cores (CI machine)'")
    parser.add_argument("labs", nargs="*", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("LABLIB_PROFILE", "small")
    if os.environ["LABLIB_PROFILE"] == "small":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    import lablib

    labs = args.labs or sorted((ROOT / "labs").glob("*.ipynb"))
    records = json.loads(TIMES.read_text()) if TIMES.exists() else {"tiers": {}}
    tier = records["tiers"].setdefault(args.tier, {})
    tier["machine"] = {
        "cpus": os.cpu_count(),
        "torch threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lablib": lablib.__version__,
    }
    tier["profile"] = lablib.profile()
    tier.setdefault("labs", {})
    for lab in labs:
        seconds = run(lab)
        tier["labs"][lab.stem] = {"seconds": round(seconds, 1), "date": datetime.date.today().isoformat()}
        print(f"{lab.name}: {seconds:.1f} s ({args.tier}, profile {tier['profile']})")
    TIMES.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
