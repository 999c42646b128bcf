"""Running a submitted notebook: every cell, errors allowed, a time limit per cell, a fresh kernel when needed.

nbclient runs the cells and interrupts one that runs past its limit
(``interrupt_on_timeout``, ``error_on_timeout``), as nbgrader's Execute does.
What neither does, and this module adds: a limit per cell (short for the
exercises, long for training), and going on after a kernel that ignores the
interrupt or dies, in a fresh kernel with the cells that had run replayed.
nbgrader's Execute has one limit for every cell, and after a dead kernel it
can only run the whole notebook again (``execute_retries``).
"""
from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass
from typing import Callable

import nbformat

_TIMED_OUT = "CoursetoolsCellTimeout"  # the ename of nbclient's reply for a cell it interrupted on timeout


@dataclass
class CellRun:
    """How one code cell ended: ``ok``, ``error``, ``timeout``, ``died`` (the kernel), or ``not run``."""

    status: str
    message: str = ""
    seconds: float = 0.0


def error_line(cell) -> str:
    """``ename: evalue`` of the first error a cell produced, on one line ("" when it raised nothing)."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = " / ".join(line.strip() for line in str(output.get("evalue", "")).strip().splitlines() if line.strip())
            line = f"{output.get('ename', 'Error')}: {value}" if value else str(output.get("ename", "Error"))
            return line if len(line) <= 500 else line[:497] + "..."
    return ""


def _error_output(ename: str, evalue: str):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def execute(nb, *, cwd: str | os.PathLike, timeout_of: Callable[[object], float], grace: float = 10,
            max_restarts: int = 3, env: dict | None = None, kernel_name: str = "python3") -> dict[int, CellRun]:
    """Run every code cell of ``nb`` in order, in place, and return ``{cell index: CellRun}``.

    Errors do not stop the run. A cell that runs longer than ``timeout_of(cell)``
    seconds is interrupted (KeyboardInterrupt); if the cell has not ended with
    a KeyboardInterrupt ``grace`` seconds later, or the kernel dies, a fresh
    kernel starts and the cells that had run are replayed (their outputs kept
    from the first run) before the next cell; after ``max_restarts`` restarts
    the remaining cells are not run.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    replies: list[dict] = []
    runner = NotebookClient(  # after an interrupt, nbclient waits iopub_timeout s for the cell to end
        nb, kernel_name=kernel_name, allow_errors=True, shutdown_kernel="immediate", startup_timeout=120,
        timeout_func=timeout_of, iopub_timeout=max(1, math.ceil(grace)),
        interrupt_on_timeout=True, error_on_timeout={"ename": _TIMED_OUT, "evalue": "", "traceback": []},
        on_cell_executed=lambda cell, cell_index, execute_reply: replies.append(execute_reply),
        resources={"metadata": {"path": str(cwd)}})

    def run(cell, index, **options) -> str:
        """``ok``, ``timeout`` (interrupted) or ``died``."""
        replies.clear()
        kept = nb.cells[index]  # nbclient stores the cell it ran at nb.cells[index]: not a replayed copy
        try:
            runner.execute_cell(cell, index, **options)
        except DeadKernelError:
            return "died"
        finally:
            nb.cells[index] = kept
        return "timeout" if replies and (replies[-1] or {}).get("content", {}).get("ename") == _TIMED_OUT else "ok"

    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    for i in code:
        nb.cells[i].outputs, nb.cells[i].execution_count = [], None
    results: dict[int, CellRun] = {}
    history: list[int] = []  # cells that ran (with or without error): replayed in a fresh kernel
    position, restarts = 0, 0
    while position < len(code):
        with runner.setup_kernel(env={**os.environ, **(env or {})}, cwd=str(cwd)):
            for i in list(history):  # a fresh kernel: bring it to the state the failed one had
                if run(copy.deepcopy(nb.cells[i]), i, store_history=False) != "ok":
                    history.remove(i)
                    results[i].message += " (and again when replayed after a restart: left out)"
                    break
            else:
                while position < len(code):
                    index = code[position]
                    cell, start = nb.cells[index], time.perf_counter()
                    position += 1
                    status = run(cell, index)
                    if status == "timeout":
                        message = f"the cell ran longer than {timeout_of(cell):g} s and was stopped (an endless loop?)"
                        answered = any(o.get("ename") == "KeyboardInterrupt" for o in cell.outputs)
                        cell.outputs.append(_error_output("TimeoutError", message))
                        results[index] = CellRun("timeout", f"TimeoutError: {message}", time.perf_counter() - start)
                        if answered:  # the interrupt ended the cell: the kernel goes on
                            continue
                        break
                    if status == "died":
                        message = "the kernel died while running this cell (os._exit, a crash, or out of memory?)"
                        cell.outputs.append(_error_output("DeadKernelError", message))
                        results[index] = CellRun("died", f"DeadKernelError: {message}", time.perf_counter() - start)
                        break
                    problem = error_line(cell)
                    results[index] = CellRun("error" if problem else "ok", problem, time.perf_counter() - start)
                    history.append(index)
        if position < len(code):
            restarts += 1
            if restarts > max_restarts:
                for index in code[position:]:
                    results[index] = CellRun("not run", f"not run: the kernel was restarted {max_restarts} times")
                break
    return results
