"""``build``: student notebooks (nbgrader's preprocessors) and autograder bundles from the instructor's labs."""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

import nbformat

from .forbidden import forbidden_of, forbidden_uses
from .markup import (HIDDEN_WORDS, METADATA_KEY, SETUP_TAG, SOLUTION_SUFFIX, SOLUTION_WORDS, AssignmentError,
                     cell_index, code_before, dependency_problems, exercises, grade_id, hint, lab_paths, read, stub)

_COLAB_BADGE = re.compile(r"^\s*\[!\[Open In Colab\].*$\n?", re.M)
STUDENT_NOTE = (
    "> **Student version.** Write your answers where a cell says `# YOUR CODE HERE` and delete the "
    "`raise NotImplementedError(...)` line below it. The check cell under each exercise tells you "
    "whether your answer passes and, if not, what is wrong. Hand in this notebook, saved "
    "with its name unchanged."
)


def _nbgrader():
    """The ``nbgrader`` package, or an :class:`AssignmentError` that says how to install it."""
    try:
        import nbgrader.preprocessors  # noqa: F401  (the submodules used here)
        import nbgrader.api
        import nbgrader.nbgraderformat
    except ImportError as error:
        raise AssignmentError(f"coursetools needs nbgrader ({error}); install it with "
                              "pip install -e \".[assign]\" (make assignments does this)") from None
    return nbgrader


def student_notebook(instructor, lab: str):
    """The student version of an instructor notebook (a new notebook; the argument is not changed).

    nbgrader's ClearSolutions (with each cell's own hint as the stub),
    ClearHiddenTests, ClearOutput and LockCells, used without a gradebook.
    """
    pre = _nbgrader().preprocessors

    class ClearSolutionsWithHints(pre.ClearSolutions):
        def preprocess_cell(self, cell, resources, index):
            exercise = (grade_id(cell) or "").removesuffix(SOLUTION_SUFFIX)
            default = self.code_stub
            self.code_stub = {resources["language"]: stub(hint(cell.source), forbidden_of(exercise))}
            try:
                return super().preprocess_cell(cell, resources, index)
            finally:
                self.code_stub = default

    nb, resources = copy.deepcopy(instructor), {}
    for preprocessor in (ClearSolutionsWithHints(), pre.ClearHiddenTests(), pre.ClearOutput(), pre.LockCells()):
        nb, resources = preprocessor.preprocess(nb, resources)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    if nb.cells and nb.cells[0].cell_type == "markdown":  # the badge opens the instructor's notebook
        nb.cells[0].source = _COLAB_BADGE.sub("", nb.cells[0].source).rstrip("\n") + "\n\n" + STUDENT_NOTE
    nb.metadata.pop("widgets", None)
    source_sha256 = hashlib.sha256(nbformat.writes(instructor).encode()).hexdigest()
    nb.metadata[METADATA_KEY] = {"lab": lab, "source_sha256": source_sha256}
    leftover = [i for i, c in enumerate(nb.cells) if any(w in c.source for w in SOLUTION_WORDS + HIDDEN_WORDS)]
    if leftover:
        raise AssignmentError(f"{lab}: markers survived in the student notebook, cells {leftover}")
    return nb


def autograder_notebook(instructor):
    """The instructor notebook as the grader uses it: every source and marker kept, outputs cleared."""
    nb, _ = _nbgrader().preprocessors.ClearOutput().preprocess(copy.deepcopy(instructor), {})
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    return nb


def _warnings(lab: str, instructor, found) -> list[str]:
    problems = [f"{lab}: WARNING: {p}; in the student version that cell may fail" for p in dependency_problems(instructor)]
    for e in found:
        if not e.forbidden:
            problems.append(f"{lab}: WARNING: exercise {e.exercise!r} has no entry in coursetools.forbidden.FORBIDDEN: "
                            "a solution that calls its reference would pass")
        solution = instructor.cells[cell_index(instructor, e.solution_cell)].source
        problems += [f"{lab}: WARNING: the instructor's solution of {e.exercise!r} uses {entry} (line {line}), "
                     "which FORBIDDEN does not allow: it would score 0"
                     for line, entry in forbidden_uses(solution, e.forbidden, code_before(instructor, e.solution_cell))]
    return problems


def build(labs_dir: str | os.PathLike = "labs", out: str | os.PathLike = "assignments",
          labs: Sequence[str] = (), log: Callable[[str], None] = print) -> list[dict]:
    """Write the student notebooks and the autograder bundles of the labs; return their manifests.

    Writes ``out/student/<lab>.ipynb`` and ``out/autograder/<lab>/{<lab>.ipynb,
    manifest.json}``; a lab without exercises gets a student notebook and an
    empty manifest (and a warning). Every lab is checked (our markup rules and
    nbgrader's metadata validator) before anything is written.
    """
    out, prepared = Path(out), []
    for path in lab_paths(Path(labs_dir), labs):
        instructor = read(path, "lab")
        found = exercises(instructor, str(path))
        try:
            _nbgrader().nbgraderformat.MetadataValidator().validate_nb(copy.deepcopy(instructor))
        except _nbgrader().nbgraderformat.ValidationError as error:
            raise AssignmentError(f"{path}: nbgrader rejects the cell metadata: {error}") from None
        prepared.append((path, instructor, found, student_notebook(instructor, path.stem)))
    manifests = []
    for path, instructor, found, student in prepared:
        lab, bundle = path.stem, out / "autograder" / path.stem
        for problem in _warnings(lab, instructor, found):
            log(problem)
        bundle.mkdir(parents=True, exist_ok=True)
        (out / "student").mkdir(parents=True, exist_ok=True)
        nbformat.write(student, str(out / "student" / f"{lab}.ipynb"))
        nbformat.write(autograder_notebook(instructor), str(bundle / f"{lab}.ipynb"))
        header = instructor.cells[0] if instructor.cells and instructor.cells[0].cell_type == "markdown" else None
        first = header.source.strip().split("\n")[0] if header else ""
        manifest = {
            "lab": lab, "title": first.lstrip("#").strip(), "source": str(path),
            "source_sha256": student.metadata[METADATA_KEY]["source_sha256"],
            "total_points": sum(e.points for e in found),
            "setup_cells": sum(SETUP_TAG in c.metadata.get("tags", []) for c in instructor.cells),
            "exercises": [asdict(e) for e in found],
        }
        (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        manifests.append(manifest)
        log(f"{lab}: {len(found)} exercise(s), {manifest['total_points']:g} points: "
            + ", ".join(f"{e.exercise} ({e.points:g})" for e in found) if found
            else f"{lab}: WARNING: no graded exercises (student notebook written all the same)")
    log(f"student notebooks in {out / 'student'}, autograder bundles in {out / 'autograder'}")
    return manifests


def load_bundles(autograder_dir: str | os.PathLike) -> dict[str, tuple[dict, object]]:
    """``{lab: (manifest, autograder notebook)}`` from a folder written by :func:`build`."""
    autograder_dir = Path(autograder_dir)
    manifests = sorted(autograder_dir.glob("*/manifest.json"))
    if not manifests:
        raise AssignmentError(f"no autograder bundles in {autograder_dir}: run `make assignments` "
                              "(python -m coursetools build) first")
    bundles = {}
    for path in manifests:
        try:
            manifest = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise AssignmentError(f"{path} is not valid JSON: {error}") from None
        lab = manifest.get("lab")
        notebook = read(path.parent / f"{lab}.ipynb", "autograder notebook")
        listed = {e["exercise"] for e in manifest.get("exercises", [])}
        present = {e.exercise for e in exercises(notebook, str(path.parent))}
        if listed != present:
            raise AssignmentError(f"{path}: the manifest lists {sorted(listed)} but the notebook has {sorted(present)}; "
                                  "rebuild the bundle")
        bundles[lab] = (manifest, notebook)
    return bundles
