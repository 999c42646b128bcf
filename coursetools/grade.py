"""``grade``: score a folder of submitted notebooks against the autograder bundles.

nbgrader's sanitising step restores what the student may not change: a
temporary sqlite gradebook per grading run holds each lab's cells (nbgrader's
ComputeChecksums and SaveCells over the autograder notebook), and ClearOutput,
DeduplicateIds and OverwriteCells (``add_missing_cells``) put the trusted check
cells, hidden tests included, into each submission. What nbgrader does not do
is added here: check cells found by their text when an editor dropped the
metadata, ``--exercises-only``, the run with a per-exercise timeout
(:mod:`coursetools.run`), the references check (:mod:`coursetools.forbidden`)
and the reports (``scores.csv``, ``totals.csv``, ``feedback/<student>/<lab>.md``).
"""
from __future__ import annotations

import copy
import csv
import logging
import os
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

from .build import _nbgrader, load_bundles
from .forbidden import FORBIDDEN_ADVICE, ForbiddenReference, forbidden_of, forbidden_uses
from .markup import (METADATA_KEY, SETUP_TAG, AssignmentError, cell_index, code_before, grade_id, is_check,
                     is_solution, names, nbgrader_meta, stub, visible_check)
from .run import execute

_QUIET = logging.getLogger("coursetools.nbgrader")  # OverwriteCells warns about every check cell it restores
_QUIET.setLevel(logging.ERROR)


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
    status: str  # passed, failed, forbidden, timeout, missing, not run, unreadable
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
        ids = {grade_id(c) for c in nb.cells} - {None}
        sources = {_normalise(c.source) for c in nb.cells if c.cell_type == "code"}
        matches = [lab for lab, (manifest, _) in bundles.items() if any(
            e["exercise"] in ids or _normalise(e["check_source"]) in sources for e in manifest["exercises"])]
        if len(matches) == 1:
            return matches[0]
    raise AssignmentError(f"{path}: cannot tell which lab this is (no '{METADATA_KEY}' notebook metadata, "
                          f"no lab name in the file name, no known check cell); labs: {', '.join(bundles)}")


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
        relative = path.relative_to(root)
        student = relative.parts[0] if len(relative.parts) > 1 else (path.stem.replace(lab, "").strip(" _-.") or path.stem)
        if (student, lab) in seen:
            raise AssignmentError(f"two submissions of lab {lab} for student {student!r}: {seen[student, lab]} and {path}; "
                                  "keep one of them")
        seen[student, lab] = path
        found.append(Submission(student, lab, path))
    return found, problems


_EMPTY_GRADEBOOK: list[bytes] = []  # made once per process: nbgrader runs the `alembic` command to make one (seconds)


class Gradebook:
    """A temporary nbgrader gradebook (sqlite) holding each lab's trusted cells, for OverwriteCells."""

    def __init__(self, folder: str):
        self.path, self.labs = Path(folder) / "gradebook.db", set()
        self.url = f"sqlite:///{self.path}"
        if not _EMPTY_GRADEBOOK:
            path = os.environ.get("PATH", "")
            os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])  # where `alembic` is
            try:
                _nbgrader().api.Gradebook(self.url).close()
            finally:
                os.environ["PATH"] = path
            _EMPTY_GRADEBOOK.append(self.path.read_bytes())
        self.path.write_bytes(_EMPTY_GRADEBOOK[0])

    def resources(self, lab: str, autograder) -> dict:
        """nbgrader's resources for ``lab``; its cells are saved (ComputeChecksums, SaveCells) on first use."""
        resources = {"nbgrader": {"notebook": lab, "assignment": lab, "db_url": self.url}}
        if lab not in self.labs:
            nbgrader = _nbgrader()
            with nbgrader.api.Gradebook(self.url) as gradebook:
                gradebook.add_assignment(lab)
            nb = copy.deepcopy(autograder)
            for preprocessor in (nbgrader.preprocessors.ComputeChecksums(), nbgrader.preprocessors.SaveCells()):
                nb, _ = preprocessor.preprocess(nb, resources)
            self.labs.add(lab)
        return resources


def _compose_full(submission, lab: str, autograder, gradebook: Gradebook):
    """The submitted notebook with every check cell replaced by the autograder's own (nbgrader's OverwriteCells).

    Before nbgrader sees it, each marked cell gets the autograder's metadata
    back (the student may have edited it), and a code cell without metadata
    whose text is a released check cell becomes that check cell again.
    """
    nb = copy.deepcopy(submission)
    marked = {grade_id(c): c for c in autograder.cells if grade_id(c)}
    released = {_normalise(visible_check(c.source)): gid for gid, c in marked.items() if is_check(c)}
    for cell in nb.cells:
        gid = grade_id(cell) if isinstance(grade_id(cell), str) else None
        if gid is None and cell.cell_type == "code":
            gid = released.get(_normalise(cell.source))  # editors that drop cell metadata
        if gid in marked:
            cell.metadata["nbgrader"] = copy.deepcopy(marked[gid].metadata["nbgrader"])
        elif gid is None:
            cell.metadata.pop("nbgrader", None)  # no usable markup: an ordinary cell
    # nbgrader puts a deleted check cell back after the cell marked before it, and fails if that one is gone too
    order = [gid for gid, c in marked.items() if nbgrader_meta(c, "locked", "solution", "grade")]
    present = {grade_id(c) for c in nb.cells}
    for gid, cell in marked.items():
        if is_check(cell) and gid not in present and order[order.index(gid) - 1] not in present:
            nb.cells.append(copy.deepcopy(cell))
    nbgrader, resources = _nbgrader(), gradebook.resources(lab, autograder)
    for preprocessor in (nbgrader.preprocessors.ClearOutput(), nbgrader.preprocessors.DeduplicateIds(log=_QUIET),
                         nbgrader.preprocessors.OverwriteCells(add_missing_cells=True, log=_QUIET)):
        nb, resources = preprocessor.preprocess(nb, resources)
    for cell in nb.cells:  # the cells nbgrader put back have no id (nbformat 4.5 wants one)
        cell.setdefault("id", uuid.uuid4().hex[:8])
    return nb


def _compose_exercises_only(submission, autograder):
    """The autograder's setup cells and check cells, with the student's solution cells, in the lab's order."""
    solutions = {}
    for cell in submission.cells:
        if is_solution(cell):
            solutions.setdefault(grade_id(cell), cell)
    nb = copy.deepcopy(autograder)
    nb.cells = [c for c in nb.cells if is_solution(c) or is_check(c) or SETUP_TAG in c.metadata.get("tags", [])]
    for cell in nb.cells:
        if is_solution(cell):
            mine = solutions.get(grade_id(cell))
            cell.source = mine.source if mine is not None else stub("no solution cell with this grade_id in the submission")
        cell.outputs, cell.execution_count = [], None
    return nb


def _forbidden_in(exercise: dict) -> tuple[str, ...]:
    """An exercise's references from its manifest entry (bundles built before the key existed: the table)."""
    return tuple(exercise["forbidden"]) if "forbidden" in exercise else forbidden_of(exercise["exercise"])


def _arm_checks(graded, manifest: dict, autograder) -> None:
    """Put a ``guard`` line at the top of each check cell with references: the student's functions run guarded."""
    for exercise in manifest["exercises"]:
        forbidden = _forbidden_in(exercise)
        check, solution = cell_index(graded, exercise["exercise"]), cell_index(autograder, exercise["solution_cell"])
        if forbidden and check is not None and solution is not None:
            functions = sorted(names(autograder.cells[solution].source)[0])
            graded.cells[check].source = (
                f"__import__('coursetools.forbidden').forbidden.guard(globals(), {functions!r}, {list(forbidden)!r})"
                "  # added by the grader\n" + graded.cells[check].source)


def grade_notebook(nb, manifest: dict, autograder, *, student: str = "student", exercises_only: bool = False,
                   exercise_timeout: float = 60, cell_timeout: float = 1800, grace: float = 10,
                   profile: str | None = "small", workdir: str | os.PathLike | None = None,
                   gradebook: Gradebook | None = None):
    """Grade one submitted notebook; return ``(scores, graded notebook, {cell index: CellRun})``."""
    lab = manifest["lab"]
    with tempfile.TemporaryDirectory(prefix="coursetools-grade-") as scratch:
        graded = (_compose_exercises_only(nb, autograder) if exercises_only
                  else _compose_full(nb, lab, autograder, gradebook or Gradebook(scratch)))
        _arm_checks(graded, manifest, autograder)
        # the kernel imports coursetools.forbidden (the guard line) from wherever this copy of it lives
        here = str(Path(__file__).resolve().parents[1])
        env = {"PYTHONPATH": os.pathsep.join([here] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
        env.update({"LABLIB_PROFILE": profile} if profile else {})
        runs = execute(graded, cwd=workdir or scratch, grace=grace, env=env,
                       timeout_of=lambda c: exercise_timeout if (is_solution(c) or is_check(c)) else cell_timeout)
    where = {grade_id(c): i for i, c in enumerate(graded.cells) if grade_id(c) and (is_check(c) or is_solution(c))}
    scores = []
    for exercise in manifest["exercises"]:
        name, points = exercise["exercise"], float(exercise["points"])
        run = runs.get(where.get(name, -1))
        if run is None:
            scores.append(ExerciseScore(student, lab, name, 0.0, points, "missing", "the check cell is missing"))
            continue
        status = {"ok": "passed", "error": "failed", "died": "failed"}.get(run.status, run.status)
        feedback, solution = run.message, runs.get(where.get(exercise["solution_cell"], -1))
        if status != "passed" and solution is not None and solution.status != "ok":
            feedback = f"{feedback} (your solution cell: {solution.message})"
        if status != "passed" and ForbiddenReference.__name__ in feedback:
            status = "forbidden"  # the guard stopped a call of a reference while the check ran the student's code
        index = where.get(exercise["solution_cell"])
        uses = [] if index is None else forbidden_uses(
            graded.cells[index].source, _forbidden_in(exercise), code_before(graded, exercise["solution_cell"]))
        if uses:
            status = "forbidden"
            feedback = ("your solution cell uses " + ", ".join(f"{entry} (line {line})" for line, entry in uses)
                        + f": {FORBIDDEN_ADVICE}")
        scores.append(ExerciseScore(student, lab, name, points if status == "passed" else 0.0, points, status, feedback))
    return scores, graded, runs


def _feedback_text(student: str, manifest: dict, scores: list[ExerciseScore], runs: dict, graded) -> str:
    total, most = sum(s.points for s in scores), sum(s.max_points for s in scores)
    lines = [f"# {manifest.get('title') or manifest['lab']}: feedback for {student}", "",
             f"Score: {total:g} / {most:g}", "", "| exercise | points | result |", "|---|---|---|"]
    lines += [f"| {s.exercise} | {s.points:g} / {s.max_points:g} | {s.status} |" for s in scores]
    failed = [s for s in scores if s.status != "passed"]
    if failed:
        lines += ["", "## What went wrong", ""]
        lines += [f"- **{s.exercise}** ({s.status}): {s.feedback or 'no message'}" for s in failed]
    graded_cells = {i for i, c in enumerate(graded.cells) if is_check(c) or is_solution(c)}
    others = [(i, r) for i, r in sorted(runs.items()) if i not in graded_cells and r.status != "ok"]
    if others:
        lines += ["", "## Other cells that did not run cleanly (not graded)", ""]
        lines += [f"- cell {i}: {r.message or r.status}" for i, r in others]
    return "\n".join(lines) + "\n"


def _write_csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows([header, *rows])


def grade(submissions: str | os.PathLike, out: str | os.PathLike,
          autograder_dir: str | os.PathLike = "assignments/autograder",
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
    with tempfile.TemporaryDirectory(prefix="coursetools-gradebook-") as folder:
        gradebook = None if exercises_only else Gradebook(folder)
        for submission in found:
            manifest, autograder = bundles[submission.lab]
            start, graded = time.perf_counter(), None
            try:
                nb = nbformat.read(str(submission.path), as_version=4)
            except Exception as error:
                scores = [ExerciseScore(submission.student, submission.lab, e["exercise"], 0.0, float(e["points"]),
                                        "unreadable", f"the notebook could not be read: {error}")
                          for e in manifest["exercises"]]
            else:
                scores, graded, runs = grade_notebook(
                    nb, manifest, autograder, student=submission.student, exercises_only=exercises_only,
                    exercise_timeout=exercise_timeout, cell_timeout=cell_timeout, grace=grace, profile=profile,
                    gradebook=gradebook)
            student_dir = re.sub(r"[^A-Za-z0-9_.@+-]+", "_", submission.student).strip("._") or "student"
            feedback = out / "feedback" / student_dir / f"{submission.lab}.md"
            feedback.parent.mkdir(parents=True, exist_ok=True)
            if graded is not None:
                feedback.write_text(_feedback_text(submission.student, manifest, scores, runs, graded))
                target = out / "graded" / student_dir / f"{submission.lab}.ipynb"
                target.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(graded, str(target))
            else:
                feedback.write_text(f"# {submission.lab}: feedback for {submission.student}\n\n"
                                    f"{scores[0].feedback if scores else ''}\n")
            all_scores += scores
            total, most = sum(s.points for s in scores), sum(s.max_points for s in scores)
            log(f"{submission.student:<20} {submission.lab:<22} {total:g}/{most:g}  ({time.perf_counter() - start:.0f} s)"
                + "".join(f"\n    {s.exercise}: {s.status}: {s.feedback}" for s in scores if s.status != "passed"))
    _write_csv(out / "scores.csv", ["student", "lab", "exercise", "points", "max_points", "status", "feedback"],
               ([s.student, s.lab, s.exercise, f"{s.points:g}", f"{s.max_points:g}", s.status, s.feedback]
                for s in all_scores))
    totals: dict[tuple[str, str], list[float]] = {}
    for s in all_scores:
        entry = totals.setdefault((s.student, s.lab), [0.0, 0.0])
        entry[0], entry[1] = entry[0] + s.points, entry[1] + s.max_points
    _write_csv(out / "totals.csv", ["student", "lab", "points", "max_points"],
               ([student, lab, f"{p:g}", f"{m:g}"] for (student, lab), (p, m) in totals.items()))
    log(f"scores: {out / 'scores.csv'}, totals: {out / 'totals.csv'}, feedback: {out / 'feedback'}")
    return all_scores
