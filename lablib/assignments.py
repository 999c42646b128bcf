"""Assignments from the labs: student notebooks, an autograder bundle, and a grader.

The instructor's guide is ``book/instructors.md``. Each notebook in ``labs/``
is the instructor's version, fully runnable; its graded exercises are marked
the nbgrader way:

* a **solution cell** (cell metadata ``nbgrader: {solution: true, grade_id:
  "<exercise>-solution", ...}``) holds the answer between ``### BEGIN
  SOLUTION`` and ``### END SOLUTION``; a line ``# HINT: ...`` inside the
  region becomes the message of the stub's ``NotImplementedError``;
* its **check cell** (``nbgrader: {grade: true, locked: true, grade_id:
  "<exercise>", points: N}``) runs visible ``lablib.grading`` checks, then
  more checks between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``;
* cells tagged ``exercise-setup`` are all the exercises need (imports, small
  inputs): ``grade --exercises-only`` runs only those and the exercise cells.

Command line (``make assignments``, ``make grade``)::

    python -m lablib.assignments build [--labs labs] [--out assignments] [LAB ...]
    python -m lablib.assignments grade SUBMISSIONS --out GRADES [--autograder assignments/autograder]
    python -m lablib.assignments list [--labs labs]

``build`` writes ``student/<lab>.ipynb`` (solutions replaced by stubs, hidden
tests removed, outputs cleared: nbgrader's own ClearSolutions,
ClearHiddenTests, ClearOutput and LockCells preprocessors, used without a
gradebook) and ``autograder/<lab>/`` (the instructor notebook with its hidden
tests, and ``manifest.json``: exercises and points). ``grade`` puts the
autograder's check cells back into every submitted notebook (never trusting
the student's copy), runs it with a per-cell timeout, and writes
``scores.csv``, ``totals.csv`` and one feedback file per student and lab.
Building needs nbgrader (``pip install -e ".[assign]"``); grading needs only
nbclient and ipykernel.
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import csv
import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import nbformat

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# nbgrader matches these words anywhere in a line; so do the checks here
_SOLUTION_WORDS = ("BEGIN SOLUTION", "END SOLUTION")
_HIDDEN_WORDS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
SOLUTION_SUFFIX = "-solution"
SETUP_TAG = "exercise-setup"
SCHEMA_VERSION = 3
METADATA_KEY = "lablib_assignment"  # notebook metadata of a student notebook: which lab it is
STUB_FIRST_LINE = "# YOUR CODE HERE"
_HINT = re.compile(r"^\s*#\s*HINT:\s*(.*?)\s*$")
_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_COLAB_BADGE = re.compile(r"^\s*\[!\[Open In Colab\].*$\n?", re.M)
STUDENT_NOTE = (
    "> **Student version.** Write your answers where a cell says `# YOUR CODE HERE` and delete the "
    "`raise NotImplementedError(...)` line below it. The check cell under each exercise tells you "
    "whether your answer passes and, if not, what is wrong. Hand in this notebook, saved "
    "with its name unchanged."
)


class AssignmentError(ValueError):
    """A lab's exercise markup, an autograder bundle or a submission folder is not usable; the message says where."""


# ----------------------------------------------------------------------------- reading the markup


@dataclass
class Exercise:
    """One graded exercise of a lab: a solution cell and the check cell that scores it."""

    exercise: str  # the check cell's grade_id, e.g. "01-log-softmax"
    points: float
    solution_cell: str  # the solution cell's grade_id, "<exercise>-solution"
    hint: str  # the stub's message ("" when the solution region has no "# HINT:" line)
    check_source: str  # the check cell as the student sees it (hidden tests removed)


def _nbgrader_meta(cell, where: str) -> dict | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise AssignmentError(f"{where}: the cell's 'nbgrader' metadata must be a mapping, got {meta!r}")
    return meta


def _is_solution(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader")
    return isinstance(meta, dict) and bool(meta.get("solution"))


def _is_check(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader")
    return isinstance(meta, dict) and bool(meta.get("grade")) and not meta.get("solution")


def _is_locked(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader")
    return isinstance(meta, dict) and not meta.get("solution") and bool(meta.get("grade") or meta.get("locked"))


def _grade_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


def split_regions(source: str, begin: str, end: str, where: str) -> tuple[list[str], list[list[str]]]:
    """The lines outside the ``begin``/``end`` regions of ``source``, and each region's inner lines.

    A line counts as a marker when it contains ``begin``/``end`` anywhere, as
    nbgrader reads it. Raises :class:`AssignmentError` on a nested region, an
    ``end`` without ``begin``, or a region that is never closed.
    """
    outside, regions, current = [], [], None
    for number, line in enumerate(source.split("\n"), start=1):
        if begin in line:
            if current is not None:
                raise AssignmentError(f"{where}, line {number}: '{begin}' inside another region (regions cannot nest)")
            current = []
        elif end in line:
            if current is None:
                raise AssignmentError(f"{where}, line {number}: '{end}' without a '{begin}' before it")
            regions.append(current)
            current = None
        elif current is not None:
            current.append(line)
        else:
            outside.append(line)
    if current is not None:
        raise AssignmentError(f"{where}: '{begin}' is never closed by '{end}'")
    return outside, regions


def _hint(source: str) -> str:
    """The text of the ``# HINT:`` lines inside the solution regions of ``source``, joined."""
    try:
        _, regions = split_regions(source, _SOLUTION_WORDS[0], _SOLUTION_WORDS[1], "hint")
    except AssignmentError:
        return ""
    hints = [m.group(1) for region in regions for line in region if (m := _HINT.match(line))]
    return " ".join(h for h in hints if h)


def stub(hint: str) -> str:
    """What replaces a solution region in the student notebook."""
    message = f"Hint: {hint}" if hint else "write your solution here"
    return f"{STUB_FIRST_LINE}\nraise NotImplementedError({message!r})"


def visible_check(source: str) -> str:
    """A check cell's source without its hidden-test regions (what the student sees)."""
    outside, _ = split_regions(source, _HIDDEN_WORDS[0], _HIDDEN_WORDS[1], "check cell")
    return "\n".join(outside)


def exercises(nb, where: str = "notebook") -> list[Exercise]:
    """Read and validate a lab's graded exercises; raise :class:`AssignmentError` naming the first problem.

    Checked: the nbgrader metadata of every marked cell (schema version 3,
    booleans, a unique ``grade_id`` of letters, digits, ``-`` and ``_``, points
    on check cells); solution regions only in solution cells and hidden-test
    regions only in check cells, each closed and not nested; every solution
    cell has a region (so the stub keeps the rest of the cell, such as a
    ``def`` line); every check cell has a visible check left once its hidden
    tests are removed; and every exercise is a pair: a solution cell
    ``<id>-solution`` followed, later in the notebook, by its check cell ``<id>``.
    """
    found: dict[str, tuple[int, dict]] = {}
    solutions: dict[str, int] = {}
    checks: list[tuple[int, str, float, str]] = []
    for index, cell in enumerate(nb.cells):
        at = f"{where}, cell {index}"
        source = cell.get("source", "")
        meta = _nbgrader_meta(cell, at)
        if meta is not None:
            if meta.get("schema_version") != SCHEMA_VERSION:
                raise AssignmentError(f"{at}: nbgrader schema_version must be {SCHEMA_VERSION}, "
                                      f"got {meta.get('schema_version')!r}")
            for key in ("grade", "solution", "locked"):
                if not isinstance(meta.get(key), bool):
                    raise AssignmentError(f"{at}: nbgrader '{key}' must be true or false, got {meta.get(key)!r}")
        if meta is None or not (meta["grade"] or meta["solution"] or meta["locked"]):
            for words, kind in ((_SOLUTION_WORDS, "solution"), (_HIDDEN_WORDS, "hidden-test")):
                if any(word in source for word in words):
                    raise AssignmentError(f"{at}: a {kind} marker in a cell that is not marked as an nbgrader "
                                          f"{'solution' if kind == 'solution' else 'check (grade)'} cell")
            continue
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str) or not _GRADE_ID.match(grade_id):
            raise AssignmentError(f"{at}: grade_id must be letters, digits, '-' or '_', got {grade_id!r}")
        if grade_id in found:
            raise AssignmentError(f"{at}: grade_id {grade_id!r} is used twice (also cell {found[grade_id][0]})")
        found[grade_id] = (index, meta)
        if cell.cell_type != "code" and (meta["solution"] or meta["grade"]):
            raise AssignmentError(f"{at} ({grade_id}): graded cells must be code cells (the grader runs them)")
        if meta["solution"]:
            if meta["grade"]:
                raise AssignmentError(f"{at} ({grade_id}): a cell is either a solution or a check, not both")
            if not grade_id.endswith(SOLUTION_SUFFIX):
                raise AssignmentError(f"{at}: a solution cell's grade_id must end in '{SOLUTION_SUFFIX}', got {grade_id!r}")
            _, regions = split_regions(source, _SOLUTION_WORDS[0], _SOLUTION_WORDS[1], f"{at} ({grade_id})")
            if not regions:
                raise AssignmentError(f"{at} ({grade_id}): a solution cell needs a '{BEGIN_SOLUTION}' ... "
                                      f"'{END_SOLUTION}' region")
            if any(word in source for word in _HIDDEN_WORDS):
                raise AssignmentError(f"{at} ({grade_id}): hidden tests belong in the check cell, not the solution cell")
            solutions[grade_id[: -len(SOLUTION_SUFFIX)]] = index
        elif meta["grade"]:
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
                raise AssignmentError(f"{at} ({grade_id}): a check cell needs points > 0, got {points!r}")
            if any(word in source for word in _SOLUTION_WORDS):
                raise AssignmentError(f"{at} ({grade_id}): a solution region in a check cell")
            outside, _ = split_regions(source, _HIDDEN_WORDS[0], _HIDDEN_WORDS[1], f"{at} ({grade_id})")
            visible = "\n".join(outside)
            if not any(line.strip() and not line.strip().startswith("#") for line in visible.split("\n")):
                raise AssignmentError(f"{at} ({grade_id}): the check cell has no visible check for the student")
            checks.append((index, grade_id, float(points), visible))
        elif any(word in source for word in _SOLUTION_WORDS + _HIDDEN_WORDS):
            raise AssignmentError(f"{at} ({grade_id}): a marker in a read-only cell")
    result = []
    for index, grade_id, points, visible in checks:
        if grade_id not in solutions:
            raise AssignmentError(f"{where}, cell {index}: check cell {grade_id!r} has no solution cell "
                                  f"'{grade_id}{SOLUTION_SUFFIX}'")
        if solutions[grade_id] > index:
            raise AssignmentError(f"{where}, cell {index}: check cell {grade_id!r} comes before its solution cell")
        solution_source = nb.cells[solutions[grade_id]].source
        result.append(Exercise(grade_id, points, grade_id + SOLUTION_SUFFIX, _hint(solution_source), visible))
    unpaired = sorted(set(solutions) - {e.exercise for e in result})
    if unpaired:
        raise AssignmentError(f"{where}: solution cell(s) without a check cell: "
                              + ", ".join(f"{u}{SOLUTION_SUFFIX} (expected a check cell {u!r})" for u in unpaired))
    return result


def solution_lines(nb) -> list[str]:
    """Every non-blank line inside a solution or hidden-test region (what must not reach a student)."""
    lines = []
    for index, cell in enumerate(nb.cells):
        for words in (_SOLUTION_WORDS, _HIDDEN_WORDS):
            if any(word in cell.source for word in words):
                _, regions = split_regions(cell.source, words[0], words[1], f"cell {index}")
                lines += [line.strip() for region in regions for line in region if line.strip()]
    return lines


def _names(source: str) -> tuple[set[str], set[str]]:
    """``(bound, used)``: module-level names a cell assigns or defines (imports left out), and the global names it reads."""
    import symtable

    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)  # magics and shell escapes to plain Python
    except ImportError:
        pass
    try:
        table = symtable.symtable(source, "cell", "exec")
    except SyntaxError:
        return set(), set()
    bound = {s.get_name() for s in table.get_symbols() if s.is_assigned() and not s.is_imported()}
    used = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    nested = list(table.get_children())
    while nested:
        scope = nested.pop()
        nested += scope.get_children()
        used |= {s.get_name() for s in scope.get_symbols() if s.is_referenced() and s.is_global()}
    return bound, used


def dependency_problems(nb) -> list[str]:
    """Ungraded cells that read a name which a graded cell defines (and no ungraded cell has redefined since).

    In the student version such a cell would run on a stub, or on a name that
    a failing check cell never got to define. Each exercise must be
    self-contained: later cells use lablib's reference or define their own inputs.
    """
    defined_by: dict[str, str] = {}
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        bound, used = _names(cell.source)
        if _is_solution(cell) or _is_check(cell):
            defined_by.update({name: _grade_id(cell) or "?" for name in bound})
            continue
        for name in sorted((used - bound) & set(defined_by)):
            problems.append(f"cell {index} uses {name!r}, which graded cell {defined_by[name]!r} defines")
        for name in bound:
            defined_by.pop(name, None)
    return problems


# ----------------------------------------------------------------------------- building


def _read(path: Path, what: str):
    try:
        return nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise AssignmentError(f"{what} {path} does not exist") from None
    except Exception as error:  # nbformat raises several kinds for a file that is not a notebook
        raise AssignmentError(f"{what} {path} is not a readable notebook: {error}") from None


def _nbgrader_preprocessors() -> list:
    try:
        from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions, LockCells
    except ImportError as error:
        raise AssignmentError(
            f"building student notebooks needs nbgrader ({error}); install it with "
            "pip install -e \".[assign]\" (make assignments does this)") from None

    class ClearSolutionsWithHints(ClearSolutions):
        """nbgrader's ClearSolutions with a per-cell stub: the hint of the cell's own solution region."""

        def preprocess_cell(self, cell, resources, cell_index):
            language = resources["language"]
            default = self.code_stub
            self.code_stub = {**default, language: stub(_hint(cell.source))}
            try:
                return super().preprocess_cell(cell, resources, cell_index)
            finally:
                self.code_stub = default

    return [ClearSolutionsWithHints(), ClearHiddenTests(), ClearOutput(), LockCells()]


def _validate_with_nbgrader(nb, where: str) -> None:
    from nbgrader.nbgraderformat import MetadataValidator, ValidationError

    try:
        MetadataValidator().validate_nb(nb)
    except ValidationError as error:
        raise AssignmentError(f"{where}: nbgrader rejects the cell metadata: {error}") from None


def student_notebook(instructor, lab: str):
    """The student version of an instructor notebook (a new notebook; the argument is not changed)."""
    nb = copy.deepcopy(instructor)
    resources: dict = {}
    for preprocessor in _nbgrader_preprocessors():
        nb, resources = preprocessor.preprocess(nb, resources)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    if nb.cells and nb.cells[0].cell_type == "markdown":  # the badge opens the instructor's notebook
        header = _COLAB_BADGE.sub("", nb.cells[0].source)
        nb.cells[0].source = header.rstrip("\n") + "\n\n" + STUDENT_NOTE
    nb.metadata.pop("widgets", None)
    nb.metadata[METADATA_KEY] = {"lab": lab, "source_sha256": _sha256(nbformat.writes(instructor))}
    leftover = [i for i, c in enumerate(nb.cells) if any(w in c.source for w in _SOLUTION_WORDS + _HIDDEN_WORDS)]
    if leftover:
        raise AssignmentError(f"{lab}: markers survived in the student notebook, cells {leftover}")
    return nb


def autograder_notebook(instructor):
    """The instructor notebook as the grader uses it: every source and marker kept, outputs cleared."""
    nb = copy.deepcopy(instructor)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    return nb


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _title(nb) -> str:
    if nb.cells and nb.cells[0].cell_type == "markdown":
        first = nb.cells[0].source.strip().split("\n")[0]
        return first.lstrip("#").strip()
    return ""


def lab_paths(labs_dir: Path, names: Sequence[str] = ()) -> list[Path]:
    """The lab notebooks in ``labs_dir`` (all, or those named by stem or file name)."""
    labs_dir = Path(labs_dir)
    if not labs_dir.is_dir():
        raise AssignmentError(f"the labs folder {labs_dir} does not exist")
    paths = sorted(labs_dir.glob("*.ipynb"))
    if not names:
        if not paths:
            raise AssignmentError(f"no notebooks in {labs_dir}")
        return paths
    by_name = {p.stem: p for p in paths}
    chosen = []
    for name in names:
        stem = Path(name).stem
        if stem not in by_name:
            raise AssignmentError(f"no lab {name!r} in {labs_dir}; the labs are: {', '.join(by_name) or 'none'}")
        chosen.append(by_name[stem])
    return chosen


def build(labs_dir: str | os.PathLike = "labs", out: str | os.PathLike = "assignments",
          labs: Sequence[str] = (), log: Callable[[str], None] = print) -> list[dict]:
    """Write the student notebooks and the autograder bundles of the labs; return their manifests.

    Writes ``out/student/<lab>.ipynb`` and ``out/autograder/<lab>/{<lab>.ipynb,
    manifest.json}``; a lab without exercises gets a student notebook and an
    empty manifest (and a warning).
    """
    out = Path(out)
    prepared = []  # every lab is checked before anything is written
    for path in lab_paths(Path(labs_dir), labs):
        instructor = _read(path, "lab")
        found = exercises(instructor, str(path))
        _validate_with_nbgrader(copy.deepcopy(instructor), str(path))
        prepared.append((path, instructor, found, student_notebook(instructor, path.stem)))
    manifests = []
    for path, instructor, found, student in prepared:
        lab = path.stem
        for problem in dependency_problems(instructor):
            log(f"{lab}: WARNING: {problem}; in the student version that cell may fail")
        bundle = out / "autograder" / lab
        bundle.mkdir(parents=True, exist_ok=True)
        (out / "student").mkdir(parents=True, exist_ok=True)
        nbformat.write(student, str(out / "student" / f"{lab}.ipynb"))
        nbformat.write(autograder_notebook(instructor), str(bundle / f"{lab}.ipynb"))
        manifest = {
            "lab": lab, "title": _title(instructor), "source": str(path),
            "source_sha256": student.metadata[METADATA_KEY]["source_sha256"],
            "total_points": sum(e.points for e in found),
            "setup_cells": sum(SETUP_TAG in c.metadata.get("tags", []) for c in instructor.cells),
            "exercises": [asdict(e) for e in found],
        }
        (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        manifests.append(manifest)
        if found:
            log(f"{lab}: {len(found)} exercise(s), {manifest['total_points']:g} points: "
                + ", ".join(f"{e.exercise} ({e.points:g})" for e in found))
        else:
            log(f"{lab}: WARNING: no graded exercises (student notebook written all the same)")
    log(f"student notebooks in {out / 'student'}, autograder bundles in {out / 'autograder'}")
    return manifests


def load_bundles(autograder_dir: str | os.PathLike) -> dict[str, tuple[dict, object]]:
    """``{lab: (manifest, autograder notebook)}`` from a folder written by :func:`build`."""
    autograder_dir = Path(autograder_dir)
    manifests = sorted(autograder_dir.glob("*/manifest.json"))
    if not manifests:
        raise AssignmentError(f"no autograder bundles in {autograder_dir}: run `make assignments` "
                              "(python -m lablib.assignments build) first")
    bundles = {}
    for path in manifests:
        try:
            manifest = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise AssignmentError(f"{path} is not valid JSON: {error}") from None
        lab = manifest.get("lab")
        notebook = _read(path.parent / f"{lab}.ipynb", "autograder notebook")
        listed = {e["exercise"] for e in manifest.get("exercises", [])}
        present = {e.exercise for e in exercises(notebook, str(path.parent))}
        if listed != present:
            raise AssignmentError(f"{path}: the manifest lists {sorted(listed)} but the notebook has {sorted(present)}; "
                                  "rebuild the bundle")
        bundles[lab] = (manifest, notebook)
    return bundles


# ----------------------------------------------------------------------------- running a notebook


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


class _OrphanPollFilter(logging.Filter):
    """Drops asyncio's report of nbclient's output-polling task, left behind when a timed-out kernel is shut down."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("Task exception was never retrieved" in message and "_async_poll_output_msg" in message)


def _cancel_output_polls() -> None:
    """Cancel the output-polling task that nbclient leaves running after a cell timed out.

    nbclient treats CellTimeoutError as a control signal and does not cancel
    that task; left alive, it keeps reading the kernel's output messages and
    drops those of the next cells, which then each wait for nbclient's
    ``iopub_timeout``.
    """
    from jupyter_core.utils import ensure_event_loop

    loop = ensure_event_loop()
    orphans = [task for task in asyncio.all_tasks(loop)
               if getattr(task.get_coro(), "__qualname__", "") == "NotebookClient._async_poll_output_msg"]
    for task in orphans:
        task.cancel()
    if orphans:
        loop.run_until_complete(asyncio.gather(*orphans, return_exceptions=True))


def execute(nb, *, cwd: str | os.PathLike, timeout_of: Callable[[object], float], grace: float = 10,
            max_restarts: int = 3, env: dict | None = None, kernel_name: str = "python3") -> dict[int, CellRun]:
    """Run every code cell of ``nb`` in order, in place, and return ``{cell index: CellRun}``.

    Errors do not stop the run. A cell that runs longer than ``timeout_of(cell)``
    seconds is interrupted (KeyboardInterrupt); if the kernel does not answer
    within ``grace`` seconds, or dies, a fresh kernel starts and the cells that
    had run are replayed (their outputs kept from the first run) before the
    next cell; after ``max_restarts`` restarts the remaining cells are not run.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    probe_key = "lablib_grader_probe"
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, _OrphanPollFilter) for f in asyncio_log.filters):
        asyncio_log.addFilter(_OrphanPollFilter())

    def timeout(cell):
        return grace if cell.metadata.get(probe_key) else timeout_of(cell)

    def client():
        return NotebookClient(nb, kernel_name=kernel_name, allow_errors=True, timeout_func=timeout,
                              interrupt_on_timeout=False, shutdown_kernel="immediate", startup_timeout=120,
                              resources={"metadata": {"path": str(cwd)}})

    def answers(runner) -> bool:
        """Interrupt the kernel and tell whether it answers a trivial cell within ``grace`` seconds."""
        from jupyter_core.utils import run_sync

        try:
            run_sync(runner.km.interrupt_kernel)()
            probe = nbformat.v4.new_code_cell("None", metadata={probe_key: True})
            runner.execute_cell(probe, -1, store_history=False)
            return True
        except CellTimeoutError:
            _cancel_output_polls()
            return False
        except (DeadKernelError, RuntimeError):
            return False

    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    for i in code:
        nb.cells[i].outputs, nb.cells[i].execution_count = [], None
    results: dict[int, CellRun] = {}
    history: list[int] = []  # cells that ran (with or without error): replayed in a fresh kernel
    position, restarts = 0, 0
    while position < len(code):
        runner = client()
        kernel_env = {**os.environ, **(env or {})}
        with runner.setup_kernel(env=kernel_env, cwd=str(cwd)):
            replayed = True
            for i in list(history):  # a fresh kernel: bring it to the state the failed one had
                shadow = copy.deepcopy(nb.cells[i])
                try:
                    runner.execute_cell(shadow, i, store_history=False)
                except (CellTimeoutError, DeadKernelError):
                    _cancel_output_polls()
                    history.remove(i)
                    results[i].message += " (and again when replayed after a restart: left out)"
                    replayed = False
                    break
            while replayed and position < len(code):
                index = code[position]
                cell = nb.cells[index]
                position += 1
                start = time.perf_counter()
                try:
                    runner.execute_cell(cell, index)
                except CellTimeoutError:
                    _cancel_output_polls()
                    limit = timeout_of(cell)
                    message = f"the cell ran longer than {limit:g} s and was stopped (an endless loop?)"
                    cell.outputs.append(_error_output("TimeoutError", message))
                    results[index] = CellRun("timeout", f"TimeoutError: {message}", time.perf_counter() - start)
                    if answers(runner):
                        continue
                    break
                except DeadKernelError:
                    message = "the kernel died while running this cell (os._exit, a crash, or out of memory?)"
                    cell.outputs.append(_error_output("DeadKernelError", message))
                    results[index] = CellRun("died", f"DeadKernelError: {message}", time.perf_counter() - start)
                    break
                seconds = time.perf_counter() - start
                problem = error_line(cell)
                results[index] = CellRun("error" if problem else "ok", problem, seconds)
                history.append(index)
        if position < len(code):
            restarts += 1
            if restarts > max_restarts:
                for index in code[position:]:
                    results[index] = CellRun("not run", f"not run: the kernel was restarted {max_restarts} times")
                break
    return results


# ----------------------------------------------------------------------------- grading


@dataclass
class Submission:
    student: str
    lab: str
    path: Path


@dataclass
class ExerciseScore:
    student: str
    lab: str
    exercise: str
    points: float
    max_points: float
    status: str  # passed, failed, timeout, missing, not run, unreadable
    feedback: str = ""


def _normalise(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().split("\n"))


def _identify_lab(path: Path, nb, bundles: dict) -> str:
    meta = nb.metadata.get(METADATA_KEY, {}) if nb is not None else {}
    if isinstance(meta, dict) and meta.get("lab") in bundles:
        return meta["lab"]
    named = [lab for lab in bundles if lab in path.name]
    if len(named) == 1:
        return named[0]
    if nb is not None:
        ids = {_grade_id(c) for c in nb.cells} - {None}
        sources = {_normalise(c.source) for c in nb.cells if c.cell_type == "code"}
        matches = [lab for lab, (manifest, _) in bundles.items() if manifest["exercises"] and any(
            e["exercise"] in ids or _normalise(e["check_source"]) in sources for e in manifest["exercises"])]
        if len(matches) == 1:
            return matches[0]
    raise AssignmentError(f"{path}: cannot tell which lab this is (no '{METADATA_KEY}' notebook metadata, "
                          f"no lab name in the file name, no known check cell); labs: {', '.join(bundles)}")


def _student_name(path: Path, root: Path, lab: str | None) -> str:
    relative = path.relative_to(root)
    if len(relative.parts) > 1:
        return relative.parts[0]
    stem = path.stem
    if lab and lab in stem:
        stem = stem.replace(lab, "")
    stem = stem.strip(" _-.") or path.stem
    return stem


def find_submissions(folder: str | os.PathLike, bundles: dict) -> tuple[list[Submission], list[tuple[Path, str]]]:
    """The notebooks under ``folder`` with their student and lab; and the files that could not be placed.

    A student is the first folder under ``folder`` (``alice/01_loss_math.ipynb``)
    or, for a notebook directly in ``folder``, its file name without the lab's
    name (``alice_01_loss_math.ipynb``). The lab comes from the notebook's
    metadata, else its file name, else its check cells.
    """
    root = Path(folder)
    if not root.is_dir():
        raise AssignmentError(f"the submissions folder {root} does not exist")
    found, problems, seen = [], [], {}
    for path in sorted(root.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception:  # unreadable: placed by name if possible, scored 0 later
            nb = None
        try:
            lab = _identify_lab(path, nb, bundles)
        except AssignmentError as error:
            problems.append((path, str(error)))
            continue
        student = _student_name(path, root, lab)
        if (student, lab) in seen:
            raise AssignmentError(f"two submissions of lab {lab} for student {student!r}: {seen[student, lab]} and {path}; "
                                  "keep one of them")
        seen[student, lab] = path
        found.append(Submission(student, lab, path))
    return found, problems


def _compose_full(submission, autograder) -> object:
    """The submitted notebook with every check and read-only cell replaced by the autograder's own."""
    nb = copy.deepcopy(submission)
    trusted = {_grade_id(c): c for c in autograder.cells if _is_locked(c)}
    released = {_normalise(visible_check(c.source)): gid for gid, c in trusted.items() if _is_check(c)}
    placed = set()
    for cell in nb.cells:
        gid = _grade_id(cell)
        if gid is None and cell.cell_type == "code":
            gid = released.get(_normalise(cell.source))  # editors that drop cell metadata
        if gid in trusted and gid not in placed:
            original = trusted[gid]
            cell.cell_type, cell.source = original.cell_type, original.source
            cell.metadata = copy.deepcopy(original.metadata)
            if original.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            placed.add(gid)
        elif gid is not None and isinstance(cell.metadata.get("nbgrader"), dict):
            if gid in placed or (gid not in trusted and not _is_solution(cell)):
                del cell.metadata["nbgrader"]  # a copy of a check cell, or a forged id: an ordinary cell now
    for gid, original in trusted.items():  # a deleted check cell: after its solution cell, or at the end
        if gid in placed:
            continue
        after = next((i for i, c in enumerate(nb.cells) if _grade_id(c) == gid + SOLUTION_SUFFIX), None)
        restored = copy.deepcopy(original)
        restored["id"] = uuid.uuid4().hex[:8]
        nb.cells.insert(len(nb.cells) if after is None else after + 1, restored)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def _compose_exercises_only(submission, autograder) -> object:
    """The autograder's setup cells and check cells, with the student's solution cells, in the lab's order."""
    solutions = {}
    for cell in submission.cells:
        gid = _grade_id(cell)
        if gid and _is_solution(cell) and gid not in solutions:
            solutions[gid] = cell
    nb = copy.deepcopy(autograder)
    cells = []
    for cell in nb.cells:
        if _is_solution(cell):
            mine = solutions.get(_grade_id(cell))
            if mine is not None:
                cell.source = mine.source
            else:
                cell.source = stub("no solution cell with this grade_id in the submission")
            cells.append(cell)
        elif _is_check(cell) or SETUP_TAG in cell.metadata.get("tags", []):
            cells.append(cell)
    nb.cells = cells
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def grade_notebook(nb, manifest: dict, autograder, *, student: str = "student", exercises_only: bool = False,
                   exercise_timeout: float = 60, cell_timeout: float = 1800, grace: float = 10,
                   profile: str | None = "small", workdir: str | os.PathLike | None = None):
    """Grade one submitted notebook; return ``(scores, graded notebook, {cell index: CellRun})``."""
    lab = manifest["lab"]
    graded = _compose_exercises_only(nb, autograder) if exercises_only else _compose_full(nb, autograder)

    def timeout_of(cell):
        return exercise_timeout if (_is_solution(cell) or _is_check(cell)) else cell_timeout

    env = {"LABLIB_PROFILE": profile} if profile else {}
    with tempfile.TemporaryDirectory(prefix="lablib-grade-") as scratch:
        runs = execute(graded, cwd=workdir or scratch, timeout_of=timeout_of, grace=grace, env=env)
    where = {_grade_id(c): i for i, c in enumerate(graded.cells) if _grade_id(c) and (_is_check(c) or _is_solution(c))}
    scores = []
    for exercise in manifest["exercises"]:
        name, points = exercise["exercise"], float(exercise["points"])
        index = where.get(name)
        run = runs.get(index) if index is not None else None
        if run is None:
            scores.append(ExerciseScore(student, lab, name, 0.0, points, "missing", "the check cell is missing"))
            continue
        status = {"ok": "passed", "error": "failed", "died": "failed"}.get(run.status, run.status)
        feedback = run.message
        solution = runs.get(where.get(exercise["solution_cell"], -1))
        if status != "passed" and solution is not None and solution.status != "ok":
            feedback = f"{feedback} (your solution cell: {solution.message})"
        scores.append(ExerciseScore(student, lab, name, points if status == "passed" else 0.0, points, status, feedback))
    return scores, graded, runs


def _feedback_text(student: str, manifest: dict, scores: list[ExerciseScore], runs: dict, graded) -> str:
    total, most = sum(s.points for s in scores), sum(s.max_points for s in scores)
    lines = [f"# {manifest.get('title') or manifest['lab']}: feedback for {student}", "",
             f"Score: {total:g} / {most:g}", "", "| exercise | points | result |", "|---|---|---|"]
    for s in scores:
        lines.append(f"| {s.exercise} | {s.points:g} / {s.max_points:g} | {s.status} |")
    failed = [s for s in scores if s.status != "passed"]
    if failed:
        lines += ["", "## What went wrong", ""]
        lines += [f"- **{s.exercise}** ({s.status}): {s.feedback or 'no message'}" for s in failed]
    graded_cells = {i for i, c in enumerate(graded.cells) if _is_check(c) or _is_solution(c)}
    others = [(i, r) for i, r in sorted(runs.items()) if i not in graded_cells and r.status != "ok"]
    if others:
        lines += ["", "## Other cells that did not run cleanly (not graded)", ""]
        lines += [f"- cell {i}: {r.message or r.status}" for i, r in others]
    return "\n".join(lines) + "\n"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@+-]+", "_", name).strip("._") or "student"


def grade(submissions: str | os.PathLike, out: str | os.PathLike, autograder_dir: str | os.PathLike = "assignments/autograder",
          *, exercises_only: bool = False, exercise_timeout: float = 60, cell_timeout: float = 1800,
          grace: float = 10, profile: str | None = "small", log: Callable[[str], None] = print) -> list[ExerciseScore]:
    """Grade every notebook in ``submissions``; write ``out/scores.csv``, ``out/totals.csv``, feedback and graded notebooks.

    ``scores.csv`` has one row per student, lab and exercise (points, max
    points, status, feedback); ``totals.csv`` one per student and lab.
    ``out/feedback/<student>/<lab>.md`` is for the student; the executed
    notebooks in ``out/graded/`` contain the hidden tests and are for the
    instructor only.
    """
    bundles = load_bundles(autograder_dir)
    found, problems = find_submissions(submissions, bundles)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for path, message in problems:
        log(f"SKIPPED {path}: {message}")
    if not found:
        raise AssignmentError(f"no gradable notebooks in {submissions}")
    all_scores: list[ExerciseScore] = []
    for submission in found:
        manifest, autograder = bundles[submission.lab]
        start = time.perf_counter()
        try:
            nb = nbformat.read(str(submission.path), as_version=4)
        except Exception as error:
            scores = [ExerciseScore(submission.student, submission.lab, e["exercise"], 0.0, float(e["points"]),
                                    "unreadable", f"the notebook could not be read: {error}")
                      for e in manifest["exercises"]]
            runs, graded = {}, None
        else:
            scores, graded, runs = grade_notebook(
                nb, manifest, autograder, student=submission.student, exercises_only=exercises_only,
                exercise_timeout=exercise_timeout, cell_timeout=cell_timeout, grace=grace, profile=profile)
        student_dir = _safe(submission.student)
        feedback = out / "feedback" / student_dir / f"{submission.lab}.md"
        feedback.parent.mkdir(parents=True, exist_ok=True)
        if graded is not None:
            feedback.write_text(_feedback_text(submission.student, manifest, scores, runs, graded))
            target = out / "graded" / student_dir / f"{submission.lab}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(graded, str(target))
        else:
            feedback.write_text(f"# {submission.lab}: feedback for {submission.student}\n\n{scores[0].feedback if scores else ''}\n")
        all_scores += scores
        total, most = sum(s.points for s in scores), sum(s.max_points for s in scores)
        log(f"{submission.student:<20} {submission.lab:<22} {total:g}/{most:g}  ({time.perf_counter() - start:.0f} s)"
            + "".join(f"\n    {s.exercise}: {s.status}: {s.feedback}" for s in scores if s.status != "passed"))
    with open(out / "scores.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "lab", "exercise", "points", "max_points", "status", "feedback"])
        for s in all_scores:
            writer.writerow([s.student, s.lab, s.exercise, f"{s.points:g}", f"{s.max_points:g}", s.status, s.feedback])
    with open(out / "totals.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "lab", "points", "max_points"])
        totals: dict[tuple[str, str], list[float]] = {}
        for s in all_scores:
            entry = totals.setdefault((s.student, s.lab), [0.0, 0.0])
            entry[0] += s.points
            entry[1] += s.max_points
        for (student, lab), (points, most) in totals.items():
            writer.writerow([student, lab, f"{points:g}", f"{most:g}"])
    log(f"scores: {out / 'scores.csv'}, totals: {out / 'totals.csv'}, feedback: {out / 'feedback'}")
    return all_scores


# ----------------------------------------------------------------------------- command line


def _list(labs_dir: str, names: Sequence[str]) -> None:
    for path in lab_paths(Path(labs_dir), names):
        found = exercises(_read(path, "lab"), str(path))
        print(f"{path.stem}: {sum(e.points for e in found):g} points")
        for e in found:
            print(f"  {e.exercise:<28} {e.points:>4g}  hint: {e.hint or '-'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lablib.assignments", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="write student notebooks and autograder bundles")
    b.add_argument("labs", nargs="*", help="lab names (default: every notebook in --labs)")
    b.add_argument("--labs", dest="labs_dir", default="labs", help="folder of instructor notebooks (default: labs)")
    b.add_argument("--out", default="assignments", help="output folder (default: assignments)")
    g = commands.add_parser("grade", help="grade a folder of submitted notebooks")
    g.add_argument("submissions", help="folder of submissions: <student>/<lab>.ipynb or <student>_<lab>.ipynb")
    g.add_argument("--out", required=True, help="folder for scores.csv, totals.csv, feedback/ and graded/")
    g.add_argument("--autograder", default="assignments/autograder", help="bundles written by build")
    g.add_argument("--exercises-only", action="store_true",
                   help="run only the cells tagged exercise-setup and the exercise cells (seconds instead of minutes)")
    g.add_argument("--exercise-timeout", type=float, default=60, help="seconds per solution or check cell (default 60)")
    g.add_argument("--cell-timeout", type=float, default=1800, help="seconds per other cell (default 1800)")
    g.add_argument("--profile", default="small", choices=("small", "full", "auto"),
                   help="LABLIB_PROFILE for the kernels (default small; auto: leave it to the machine)")
    ls = commands.add_parser("list", help="list each lab's exercises and points")
    ls.add_argument("labs", nargs="*")
    ls.add_argument("--labs", dest="labs_dir", default="labs")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build(args.labs_dir, args.out, args.labs)
        elif args.command == "grade":
            grade(args.submissions, args.out, args.autograder, exercises_only=args.exercises_only,
                  exercise_timeout=args.exercise_timeout, cell_timeout=args.cell_timeout,
                  profile=None if args.profile == "auto" else args.profile)
        else:
            _list(args.labs_dir, args.labs)
    except AssignmentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
