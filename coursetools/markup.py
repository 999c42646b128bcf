"""The exercise markup of a lab notebook (nbgrader's): reading, validating, stubs.

A **solution cell** (``nbgrader: {solution: true, grade_id: "<exercise>-solution"}``)
holds the answer between ``### BEGIN SOLUTION`` and ``### END SOLUTION``; a
``# HINT: ...`` line inside becomes the stub's message. Its **check cell**
(``nbgrader: {grade: true, locked: true, grade_id: "<exercise>", points: N}``)
runs visible ``lablib.grading`` checks, then more between ``### BEGIN HIDDEN
TESTS`` and ``### END HIDDEN TESTS``. Cells tagged ``exercise-setup`` are all
the exercises need (``grade --exercises-only`` runs only those and the exercises).
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import nbformat

from .forbidden import forbidden_of

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
# nbgrader matches these words anywhere in a line; so do the checks here
SOLUTION_WORDS = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_WORDS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
SOLUTION_SUFFIX = "-solution"
SETUP_TAG = "exercise-setup"
SCHEMA_VERSION = 3
METADATA_KEY = "lablib_assignment"  # notebook metadata of a student notebook: which lab it is
STUB_FIRST_LINE = "# YOUR CODE HERE"
_HINT = re.compile(r"^\s*#\s*HINT:\s*(.*?)\s*$")
_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")


class AssignmentError(ValueError):
    """A lab's exercise markup, an autograder bundle or a submission folder is not usable; the message says where."""


@dataclass
class Exercise:
    """One graded exercise of a lab: a solution cell and the check cell that scores it."""

    exercise: str  # the check cell's grade_id, e.g. "01-log-softmax"
    points: float
    solution_cell: str  # the solution cell's grade_id, "<exercise>-solution"
    hint: str  # the stub's message ("" when the solution region has no "# HINT:" line)
    check_source: str  # the check cell as the student sees it (hidden tests removed)
    forbidden: tuple = ()  # references a solution may not use (coursetools.forbidden.FORBIDDEN)


def nbgrader_meta(cell, *flags: str):
    """The cell's nbgrader metadata ({} if none); with ``flags``, whether any of them is set."""
    meta = cell.get("metadata", {}).get("nbgrader")
    meta = meta if isinstance(meta, dict) else {}
    return any(meta.get(flag) for flag in flags) if flags else meta


def is_solution(cell) -> bool:
    return nbgrader_meta(cell, "solution")


def is_check(cell) -> bool:
    return nbgrader_meta(cell, "grade") and not is_solution(cell)


def grade_id(cell) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def cell_index(nb, gid: str) -> int | None:
    return next((i for i, c in enumerate(nb.cells) if grade_id(c) == gid), None)


def code_before(nb, gid: str) -> list[str]:
    """The sources of the code cells above the cell ``gid`` (what has run when it runs)."""
    return [c.source for c in nb.cells[: cell_index(nb, gid) or 0] if c.cell_type == "code"]


def read(path: Path, what: str):
    try:
        return nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise AssignmentError(f"{what} {path} does not exist") from None
    except Exception as error:  # nbformat raises several kinds for a file that is not a notebook
        raise AssignmentError(f"{what} {path} is not a readable notebook: {error}") from None


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
        else:
            (outside if current is None else current).append(line)
    if current is not None:
        raise AssignmentError(f"{where}: '{begin}' is never closed by '{end}'")
    return outside, regions


def hint(source: str) -> str:
    """The text of the ``# HINT:`` lines inside the solution regions of ``source``, joined."""
    try:
        _, regions = split_regions(source, *SOLUTION_WORDS, "hint")
    except AssignmentError:
        return ""
    return " ".join(m.group(1) for region in regions for line in region if (m := _HINT.match(line)) and m.group(1))


def stub(message: str, forbidden: Sequence[str] = ()) -> str:
    """What replaces a solution region in the student notebook (with the references it may not use, if any)."""
    lines = [STUB_FIRST_LINE]
    if forbidden:
        note = "Not allowed (a solution that uses any of these scores 0): " + ", ".join(forbidden)
        lines += ["# " + line for line in textwrap.wrap(note, 96)]
    message = f"Hint: {message}" if message else "write your solution here"
    return "\n".join(lines + [f"raise NotImplementedError({message!r})"])


def visible_check(source: str) -> str:
    """A check cell's source without its hidden-test regions (what the student sees)."""
    return "\n".join(split_regions(source, *HIDDEN_WORDS, "check cell")[0])


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
    found: dict[str, int] = {}
    solutions: dict[str, int] = {}
    checks: list[tuple[int, str, float, str]] = []
    for index, cell in enumerate(nb.cells):
        at = f"{where}, cell {index}"
        source, meta = cell.get("source", ""), cell.get("metadata", {}).get("nbgrader")
        if meta is not None:
            if not isinstance(meta, dict):
                raise AssignmentError(f"{at}: the cell's 'nbgrader' metadata must be a mapping, got {meta!r}")
            if meta.get("schema_version") != SCHEMA_VERSION:
                raise AssignmentError(f"{at}: nbgrader schema_version must be {SCHEMA_VERSION}, "
                                      f"got {meta.get('schema_version')!r}")
            for key in ("grade", "solution", "locked"):
                if not isinstance(meta.get(key), bool):
                    raise AssignmentError(f"{at}: nbgrader '{key}' must be true or false, got {meta.get(key)!r}")
        if meta is None or not (meta["grade"] or meta["solution"] or meta["locked"]):
            for words, kind, marked in ((SOLUTION_WORDS, "solution", "solution"),
                                        (HIDDEN_WORDS, "hidden-test", "check (grade)")):
                if any(word in source for word in words):
                    raise AssignmentError(f"{at}: a {kind} marker in a cell that is not marked as an nbgrader {marked} cell")
            continue
        gid = meta.get("grade_id")
        if not isinstance(gid, str) or not _GRADE_ID.match(gid):
            raise AssignmentError(f"{at}: grade_id must be letters, digits, '-' or '_', got {gid!r}")
        if gid in found:
            raise AssignmentError(f"{at}: grade_id {gid!r} is used twice (also cell {found[gid]})")
        found[gid] = index
        at = f"{at} ({gid})"
        if cell.cell_type != "code" and (meta["solution"] or meta["grade"]):
            raise AssignmentError(f"{at}: graded cells must be code cells (the grader runs them)")
        if meta["solution"]:
            if meta["grade"]:
                raise AssignmentError(f"{at}: a cell is either a solution or a check, not both")
            if not gid.endswith(SOLUTION_SUFFIX):
                raise AssignmentError(f"{where}, cell {index}: a solution cell's grade_id must end in "
                                      f"'{SOLUTION_SUFFIX}', got {gid!r}")
            if not split_regions(source, *SOLUTION_WORDS, at)[1]:
                raise AssignmentError(f"{at}: a solution cell needs a '{BEGIN_SOLUTION}' ... '{END_SOLUTION}' region")
            if any(word in source for word in HIDDEN_WORDS):
                raise AssignmentError(f"{at}: hidden tests belong in the check cell, not the solution cell")
            solutions[gid[: -len(SOLUTION_SUFFIX)]] = index
        elif meta["grade"]:
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
                raise AssignmentError(f"{at}: a check cell needs points > 0, got {points!r}")
            if any(word in source for word in SOLUTION_WORDS):
                raise AssignmentError(f"{at}: a solution region in a check cell")
            visible = "\n".join(split_regions(source, *HIDDEN_WORDS, at)[0])
            if not any(line.strip() and not line.strip().startswith("#") for line in visible.split("\n")):
                raise AssignmentError(f"{at}: the check cell has no visible check for the student")
            checks.append((index, gid, float(points), visible))
        elif any(word in source for word in SOLUTION_WORDS + HIDDEN_WORDS):
            raise AssignmentError(f"{at}: a marker in a read-only cell")
    result = []
    for index, gid, points, visible in checks:
        if gid not in solutions:
            raise AssignmentError(f"{where}, cell {index}: check cell {gid!r} has no solution cell '{gid}{SOLUTION_SUFFIX}'")
        if solutions[gid] > index:
            raise AssignmentError(f"{where}, cell {index}: check cell {gid!r} comes before its solution cell")
        result.append(Exercise(gid, points, gid + SOLUTION_SUFFIX, hint(nb.cells[solutions[gid]].source), visible,
                               forbidden_of(gid)))
    unpaired = sorted(set(solutions) - {e.exercise for e in result})
    if unpaired:
        raise AssignmentError(f"{where}: solution cell(s) without a check cell: "
                              + ", ".join(f"{u}{SOLUTION_SUFFIX} (expected a check cell {u!r})" for u in unpaired))
    return result


def solution_lines(nb) -> list[str]:
    """Every non-blank line inside a solution or hidden-test region (what must not reach a student)."""
    lines = []
    for index, cell in enumerate(nb.cells):
        for words in (SOLUTION_WORDS, HIDDEN_WORDS):
            if any(word in cell.source for word in words):
                regions = split_regions(cell.source, *words, f"cell {index}")[1]
                lines += [line.strip() for region in regions for line in region if line.strip()]
    return lines


def names(source: str) -> tuple[set[str], set[str]]:
    """``(bound, used)``: module-level names a cell assigns or defines (imports left out), and the global names it reads."""
    import symtable

    from .forbidden import plain_python

    try:
        table = symtable.symtable(plain_python(source), "cell", "exec")
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
        bound, used = names(cell.source)
        if is_solution(cell) or is_check(cell):
            defined_by.update({name: grade_id(cell) or "?" for name in bound})
            continue
        problems += [f"cell {index} uses {name!r}, which graded cell {defined_by[name]!r} defines"
                     for name in sorted((used - bound) & set(defined_by))]
        for name in bound:
            defined_by.pop(name, None)
    return problems


def lab_paths(labs_dir: Path, chosen: Sequence[str] = ()) -> list[Path]:
    """The lab notebooks in ``labs_dir`` (all, or those named by stem or file name)."""
    labs_dir = Path(labs_dir)
    if not labs_dir.is_dir():
        raise AssignmentError(f"the labs folder {labs_dir} does not exist")
    by_name = {p.stem: p for p in sorted(labs_dir.glob("*.ipynb"))}
    if not chosen:
        if not by_name:
            raise AssignmentError(f"no notebooks in {labs_dir}")
        return list(by_name.values())
    for name in chosen:
        if Path(name).stem not in by_name:
            raise AssignmentError(f"no lab {name!r} in {labs_dir}; the labs are: {', '.join(by_name) or 'none'}")
    return [by_name[Path(name).stem] for name in chosen]
