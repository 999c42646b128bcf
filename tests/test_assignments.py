"""coursetools: the student build, the autograder bundle and the grader (issue: assignments).

Fast tests use a small synthetic lab (three exercises) and submissions that
are right, wrong, crashing, looping and tampered with. The lab tests build the
real student set: no solution text may survive in it; labs 00-02 are graded
whole (instructor version: full points; student version: zero points and no
error outside the exercises); the slower labs are graded with
``--exercises-only`` (the cells tagged ``exercise-setup`` plus the exercise
cells), and a static check shows that no later cell of any lab uses a name
that a solution cell defines. Grading those labs whole takes minutes each:
``make test-assignments`` runs it (marker ``slow_assignments``, deselected by
default).
"""
import copy
import csv
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursetools import build as B
from coursetools import forbidden as FB
from coursetools import grade as G
from coursetools import markup as M
from coursetools import run as R
from coursetools.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
CHEAP_LABS = ("00_getting_started", "01_loss_math", "02_transformer")  # graded whole in the default run

# ----------------------------------------------------------------------------- a synthetic lab


def _meta(grade_id, *, solution=False, grade=False, points=None):
    meta = {"grade": grade, "solution": solution, "locked": grade and not solution, "grade_id": grade_id,
            "schema_version": 3}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def solution_cell(name, body, hint="use the formula"):
    source = f"def {name}(x):\n    ### BEGIN SOLUTION\n    # HINT: {hint}\n{body}\n    ### END SOLUTION\n"
    return new_code_cell(source, metadata=_meta(f"{name}{M.SOLUTION_SUFFIX}", solution=True))


def check_cell(name, visible, hidden, points):
    source = f"{visible}\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS\n"
    return new_code_cell(source, metadata=_meta(name, grade=True, points=points))


def synthetic_lab():
    """Three exercises (double, square, cube) and ordinary cells before, between and after them."""
    setup = new_code_cell("import math\nscale = 2", metadata={"tags": [M.SETUP_TAG]})
    return new_notebook(cells=[
        new_markdown_cell("# Lab 9: a synthetic lab\n\n[![Open In Colab](https://colab.research.google.com/x.svg)](https://x)"),
        setup,
        solution_cell("double", "    return scale * x", hint="multiply by scale"),
        check_cell("double", 'assert double(3) == 6, f"double(3) should be 6, got {double(3)}"',
                   'assert double(-4) == -8, "hidden: double(-4) should be -8"', 1),
        new_code_cell("print('an ordinary cell', math.pi)"),
        solution_cell("square", "    return x * x"),
        check_cell("square", 'assert square(3) == 9, f"square(3) should be 9, got {square(3)}"',
                   'assert square(-2) == 4, "hidden: square(-2) should be 4"', 2),
        solution_cell("cube", "    return x ** 3"),
        check_cell("cube", 'assert cube(2) == 8, f"cube(2) should be 8, got {cube(2)}"',
                   'assert cube(-1) == -1, "hidden: cube(-1) should be -1"', 3),
        new_code_cell("print('the end')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def with_solution(student, name, body):
    """A copy of a student notebook with the solution cell of `name` replaced by `def name(x):` + body."""
    nb = copy.deepcopy(student)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == f"{name}{M.SOLUTION_SUFFIX}":
            cell.source = f"def {name}(x):\n{body}\n"
    return nb


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """The synthetic lab built: (folder, student notebook, instructor notebook)."""
    root = tmp_path_factory.mktemp("synthetic")
    labs = root / "labs"
    labs.mkdir()
    instructor = synthetic_lab()
    nbformat.write(instructor, str(labs / "09_synthetic.ipynb"))
    B.build(labs, root / "assignments", log=lambda _: None)
    student = nbformat.read(str(root / "assignments" / "student" / "09_synthetic.ipynb"), as_version=4)
    return root, student, instructor


def grade_synthetic(synthetic, submissions: dict, **options):
    """Write `submissions` ({student: notebook}), grade them, return {(student, exercise): row}."""
    root = synthetic[0]
    folder = root / f"submissions-{len(list(root.glob('submissions-*')))}"
    for student, nb in submissions.items():
        (folder / student).mkdir(parents=True)
        nbformat.write(nb, str(folder / student / "09_synthetic.ipynb"))
    out = folder.with_name(folder.name + "-grades")
    options = {"exercise_timeout": 4, "grace": 4, "log": lambda _: None, **options}
    G.grade(folder, out, root / "assignments" / "autograder", **options)
    with open(out / "scores.csv") as handle:
        rows = {(row["student"], row["exercise"]): row for row in csv.DictReader(handle)}
    return rows, out


def points(rows, student):
    return {exercise: float(row["points"]) for (name, exercise), row in rows.items() if name == student}


# ----------------------------------------------------------------------------- the build


def test_student_notebook_has_stubs_with_hints_and_no_solution_or_hidden_test(synthetic):
    root, student, instructor = synthetic
    text = "\n".join(cell.source for cell in student.cells)
    for line in M.solution_lines(instructor):
        if not line.startswith("# HINT:"):
            assert line not in text, f"solution or hidden-test line {line!r} reached the student"
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    double = next(c for c in student.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "double-solution")
    assert double.source.startswith("def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError(")
    assert "Hint: multiply by scale" in double.source
    check = next(c for c in student.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "double")
    assert "double(3) == 6" in check.source and "hidden" not in check.source
    assert check.metadata["editable"] is False and check.metadata["deletable"] is False  # nbgrader's LockCells
    assert "colab-badge" not in student.cells[0].source and "x.svg" not in student.cells[0].source
    assert "Student version" in student.cells[0].source
    assert student.metadata[M.METADATA_KEY]["lab"] == "09_synthetic"


def test_autograder_bundle_keeps_hidden_tests_and_lists_points(synthetic):
    root = synthetic[0]
    bundle = root / "assignments" / "autograder" / "09_synthetic"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert [(e["exercise"], e["points"]) for e in manifest["exercises"]] == [("double", 1), ("square", 2), ("cube", 3)]
    assert manifest["total_points"] == 6 and manifest["setup_cells"] == 1
    assert manifest["exercises"][0]["hint"] == "multiply by scale"
    graded = nbformat.read(str(bundle / "09_synthetic.ipynb"), as_version=4)
    assert "hidden: double(-4)" in "".join(c.source for c in graded.cells)


@pytest.mark.parametrize("break_it, message", [
    (lambda nb: nb.cells[2].metadata.pop("nbgrader"), "not marked as an nbgrader solution cell"),
    (lambda nb: nb.cells[3].metadata["nbgrader"].pop("points"), "needs points > 0"),
    (lambda nb: setattr(nb.cells[2], "source", nb.cells[2].source.replace("### END SOLUTION", "")), "never closed"),
    (lambda nb: nb.cells[5].metadata["nbgrader"].update(grade_id="double-solution"), "used twice"),
    (lambda nb: nb.cells.pop(6), "without a check cell"),
    (lambda nb: nb.cells.insert(2, nb.cells.pop(3)), "comes before its solution cell"),
    (lambda nb: setattr(nb.cells[3], "source", "### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS"),
     "no visible check"),
    (lambda nb: setattr(nb.cells[4], "source", "### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS"), "hidden-test marker"),
])
def test_bad_markup_is_refused_with_a_clear_message(break_it, message):
    nb = synthetic_lab()
    break_it(nb)
    with pytest.raises(M.AssignmentError, match=message):
        M.exercises(nb, "09_synthetic.ipynb")


def test_a_later_cell_that_uses_an_exercise_name_is_reported():
    nb = synthetic_lab()
    assert M.dependency_problems(nb) == []
    nb.cells.append(new_code_cell("print(square(4))"))  # runs on the stub in the student version
    nb.cells.append(new_code_cell("scale = 3\ndef f(x):\n    return x * scale"))  # scale: a setup name, fine
    assert M.dependency_problems(nb) == ["cell 10 uses 'square', which graded cell 'square-solution' defines"]
    nb.cells.insert(10, new_code_cell("def square(x):\n    return x ** 2"))  # redefined by an ungraded cell: fine
    assert M.dependency_problems(nb) == []


# ----------------------------------------------------------------------------- the grader


def completed(student):
    """The student notebook with every exercise answered correctly."""
    nb = with_solution(student, "double", "    return scale * x")
    nb = with_solution(nb, "square", "    return x * x")
    return with_solution(nb, "cube", "    return x ** 3")


def test_grader_scores_right_wrong_and_crashing_submissions(synthetic):
    root, student, instructor = synthetic
    right = completed(student)
    wrong = with_solution(right, "double", "    return x + x + 1")  # the visible check fails
    hidden_only = with_solution(right, "square", "    return abs(x) * x")  # right on 3, wrong on -2
    crashing = with_solution(right, "cube", "    return 1 / 0")
    tampered = with_solution(right, "double", "    return 0")
    for cell in tampered.cells:  # the student's copy of the check cell is never trusted
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "double":
            cell.source = "pass"
    rows, out = grade_synthetic(synthetic, {"right": right, "stub": student, "wrong": wrong,
                                            "hidden": hidden_only, "crashing": crashing, "tampered": tampered})
    assert points(rows, "right") == {"double": 1, "square": 2, "cube": 3}
    assert points(rows, "stub") == {"double": 0, "square": 0, "cube": 0}
    assert "NotImplementedError: Hint: multiply by scale" in rows["stub", "double"]["feedback"]
    assert rows["wrong", "double"]["feedback"] == "AssertionError: double(3) should be 6, got 7"
    assert rows["hidden", "square"]["feedback"] == "AssertionError: hidden: square(-2) should be 4"
    assert points(rows, "crashing") == {"double": 1, "square": 2, "cube": 0}
    assert rows["crashing", "cube"]["feedback"].startswith("ZeroDivisionError: division by zero")
    assert points(rows, "tampered")["double"] == 0
    feedback = (out / "feedback" / "wrong" / "09_synthetic.md").read_text()
    assert "Score: 5 / 6" in feedback and "double(3) should be 6, got 7" in feedback
    assert "hidden: double(-4)" not in feedback  # the student's feedback does not show the hidden tests' code
    with open(out / "totals.csv") as handle:
        totals = {row["student"]: float(row["points"]) for row in csv.DictReader(handle)}
    assert totals == {"right": 6, "stub": 0, "wrong": 5, "hidden": 4, "crashing": 3, "tampered": 5}


def test_grader_stops_loops_and_survives_a_dead_kernel(synthetic):
    root, student, instructor = synthetic
    right = copy.deepcopy(instructor)
    looping = with_solution(right, "square", "    while True:\n        pass")
    stubborn = with_solution(right, "square",  # ignores the interrupt: needs a fresh kernel
                             "    import time\n    while True:\n        try:\n            time.sleep(0.1)\n"
                             "        except KeyboardInterrupt:\n            pass")
    dying = with_solution(right, "double", "    import os\n    os._exit(1)")
    rows, out = grade_synthetic(synthetic, {"looping": looping, "stubborn": stubborn, "dying": dying})
    assert points(rows, "looping") == {"double": 1, "square": 0, "cube": 3}
    assert rows["looping", "square"]["status"] == "timeout"
    assert "ran longer than 4 s" in rows["looping", "square"]["feedback"]
    assert points(rows, "stubborn") == {"double": 1, "square": 0, "cube": 3}  # state replayed in a new kernel
    assert points(rows, "dying") == {"double": 0, "square": 2, "cube": 3}
    assert "kernel died" in rows["dying", "double"]["feedback"]
    graded = nbformat.read(str(out / "graded" / "stubborn" / "09_synthetic.ipynb"), as_version=4)
    assert "the end" in "".join(o.get("text", "") for o in graded.cells[-1].outputs)


def test_grader_handles_lost_metadata_and_deleted_check_cells(synthetic):
    root, student, instructor = synthetic
    stripped = completed(student)
    for cell in stripped.cells:  # an editor that drops cell metadata: check cells found by their released source
        cell.metadata = {}
    stripped.metadata.pop(M.METADATA_KEY, None)
    deleted = completed(student)
    deleted.cells = [c for c in deleted.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "cube"]
    rows, out = grade_synthetic(synthetic, {"stripped": stripped, "deleted": deleted})
    assert points(rows, "stripped") == {"double": 1, "square": 2, "cube": 3}
    graded = nbformat.read(str(out / "graded" / "stripped" / "09_synthetic.ipynb"), as_version=4)
    assert len(graded.cells) == len(stripped.cells)  # replaced where they were, nothing appended
    assert "hidden: cube(-1)" in graded.cells[8].source
    assert points(rows, "deleted") == {"double": 1, "square": 2, "cube": 3}  # the check cell is put back
    graded = nbformat.read(str(out / "graded" / "deleted" / "09_synthetic.ipynb"), as_version=4)
    assert graded.cells[8].metadata["nbgrader"]["grade_id"] == "cube"  # right after its solution cell


def test_exercises_only_runs_setup_and_exercise_cells(synthetic):
    root, student, instructor = synthetic
    wrong = with_solution(copy.deepcopy(instructor), "cube", "    return x * 3")
    rows, out = grade_synthetic(synthetic, {"wrong": wrong}, exercises_only=True)
    assert points(rows, "wrong") == {"double": 1, "square": 2, "cube": 0}
    graded = nbformat.read(str(out / "graded" / "wrong" / "09_synthetic.ipynb"), as_version=4)
    assert len(graded.cells) == 7 and "the end" not in "".join(c.source for c in graded.cells)


def test_submission_folder_layouts(synthetic, tmp_path):
    root, student, _ = synthetic
    bundles = B.load_bundles(root / "assignments" / "autograder")
    nbformat.write(student, str(tmp_path / "bob_09_synthetic.ipynb"))
    (tmp_path / "carol").mkdir()
    nbformat.write(student, str(tmp_path / "carol" / "renamed.ipynb"))  # lab from the notebook's metadata
    (tmp_path / "notes.ipynb").write_text("{}")
    found, problems = G.find_submissions(tmp_path, bundles)
    assert {(s.student, s.lab) for s in found} == {("bob", "09_synthetic"), ("carol", "09_synthetic")}
    assert [p.name for p, _ in problems] == ["notes.ipynb"] and "cannot tell which lab" in problems[0][1]
    with pytest.raises(M.AssignmentError, match="no autograder bundles"):
        B.load_bundles(tmp_path / "nowhere")


def test_command_line_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "out"), "--autograder", str(tmp_path)]) == 2
    assert "no autograder bundles" in capsys.readouterr().err
    assert main(["build", "99_missing", "--labs", str(ROOT / "labs"), "--out", str(tmp_path)]) == 2
    assert "no lab '99_missing'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the course's labs


def _visible_text(instructor) -> str:
    """Everything a student may see: each cell without its solution and hidden-test regions."""
    parts = []
    for index, cell in enumerate(instructor.cells):
        source = cell.source
        for begin, end in (("BEGIN SOLUTION", "END SOLUTION"), ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")):
            source = "\n".join(M.split_regions(source, begin, end, f"cell {index}")[0])
        parts.append(source)
    return "\n".join(parts)


@pytest.fixture(scope="session")
def course_set(tmp_path_factory):
    """`make assignments` for the course's labs: (output folder, {lab: manifest})."""
    out = tmp_path_factory.mktemp("course-assignments")
    manifests = B.build(ROOT / "labs", out, log=lambda _: None)
    return out, {m["lab"]: m for m in manifests}


@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_every_lab_has_one_to_three_graded_exercises(lab):
    found = M.exercises(nbformat.read(str(lab), as_version=4), lab.name)
    assert 1 <= len(found) <= 3, f"{lab.name} has {len(found)} graded exercises; book/instructors.md says how to add one"
    assert all(e.hint for e in found), "every solution region has a '# HINT:' line for the stub"


@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_no_solution_text_survives_in_the_student_notebook(course_set, lab):
    out, manifests = course_set
    instructor = nbformat.read(str(lab), as_version=4)
    student = nbformat.read(str(out / "student" / lab.name), as_version=4)
    student_text = "\n".join(cell.source for cell in student.cells)
    visible = _visible_text(instructor)
    secret = [line for line in M.solution_lines(instructor)
              if not line.startswith("# HINT:") and line not in visible]
    assert len(secret) >= 0.8 * len(M.solution_lines(instructor)) - len(manifests[lab.stem]["exercises"])
    leaked = [line for line in secret if line in student_text]
    assert not leaked, f"solution or hidden-test lines in the student notebook: {leaked}"
    assert not any(cell.get("outputs") for cell in student.cells), "the student notebook stores outputs"
    assert student_text.count("raise NotImplementedError(") >= len(manifests[lab.stem]["exercises"])


@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_no_ungraded_cell_depends_on_an_exercise(lab):
    problems = M.dependency_problems(nbformat.read(str(lab), as_version=4))
    assert not problems, f"{lab.name}: " + "; ".join(problems)


def _grade_lab(course_set, tmp_path, lab: str, **options):
    """Grade the instructor notebook and the student notebook of `lab`: (scores.csv rows, output folder)."""
    out, manifests = course_set
    submissions = tmp_path / "submissions"
    for student, source in (("instructor", ROOT / "labs" / f"{lab}.ipynb"), ("student", out / "student" / f"{lab}.ipynb")):
        (submissions / student).mkdir(parents=True)
        (submissions / student / f"{lab}.ipynb").write_bytes(source.read_bytes())
    grades = tmp_path / "grades"
    G.grade(submissions, grades, out / "autograder", log=lambda _: None, **options)
    with open(grades / "scores.csv") as handle:
        return list(csv.DictReader(handle)), grades


def _assert_full_and_zero(rows, grades, lab, manifest):
    by_student = {name: [r for r in rows if r["student"] == name] for name in ("instructor", "student")}
    assert len(by_student["instructor"]) == len(manifest["exercises"]) >= 1
    for row in by_student["instructor"]:
        assert row["status"] == "passed" and row["points"] == row["max_points"], row
    for row in by_student["student"]:
        assert row["status"] == "failed" and float(row["points"]) == 0, row
        assert "NotImplementedError: Hint:" in row["feedback"], row  # the stub's hint reaches the student
    for name in ("instructor", "student"):  # nothing outside the exercises raised
        graded = nbformat.read(str(grades / "graded" / name / f"{lab}.ipynb"), as_version=4)
        errors = [(i, R.error_line(c)) for i, c in enumerate(graded.cells)
                  if c.cell_type == "code" and R.error_line(c) and "nbgrader" not in c.metadata]
        assert not errors, f"{name}: cells outside the exercises raised: {errors}"


@pytest.mark.slow
@pytest.mark.parametrize("lab", CHEAP_LABS)
def test_cheap_lab_graded_whole_full_points_and_zero_for_the_stubs(course_set, tmp_path, lab):
    rows, grades = _grade_lab(course_set, tmp_path, lab)
    _assert_full_and_zero(rows, grades, lab, course_set[1][lab])


EXPENSIVE_LABS = [lab.stem for lab in LABS if lab.stem not in CHEAP_LABS]


class TestExpensiveLabs:
    """Labs 03 onwards: their exercises only by default (setup cells + exercise cells), the whole lab on request."""

    @pytest.mark.slow
    @pytest.mark.parametrize("lab", EXPENSIVE_LABS)
    def test_exercises_only_full_points_and_zero_for_the_stubs(self, course_set, tmp_path, lab):
        rows, grades = _grade_lab(course_set, tmp_path, lab, exercises_only=True)
        _assert_full_and_zero(rows, grades, lab, course_set[1][lab])
        graded = nbformat.read(str(grades / "graded" / "student" / f"{lab}.ipynb"), as_version=4)
        assert len(graded.cells) == course_set[1][lab]["setup_cells"] + 2 * len(course_set[1][lab]["exercises"])

    @pytest.mark.slow_assignments
    @pytest.mark.parametrize("lab", EXPENSIVE_LABS)
    def test_whole_lab_full_points_and_zero_for_the_stubs(self, course_set, tmp_path, lab):
        rows, grades = _grade_lab(course_set, tmp_path, lab)
        _assert_full_and_zero(rows, grades, lab, course_set[1][lab])


# ----------------------------------------------------------------------------- references a solution may not use
# A graded exercise asks for something a library or lablib already does; the check compares with it. A
# solution that calls it scores 0: statically (the solution cell names it) and at run time (the reference
# raises while the check runs the student's function, however the solution reached it).


def reference_lab():
    """One exercise, `root`, checked against math.sqrt; an ordinary cell defines a helper that calls math.sqrt."""
    return new_notebook(cells=[
        new_markdown_cell("# Lab 10: no references"),
        new_code_cell("import math", metadata={"tags": [M.SETUP_TAG]}),
        new_code_cell("def helper(x):\n    return math.sqrt(x)"),
        solution_cell("root", "    return x ** 0.5", hint="a power"),
        check_cell("root", 'assert abs(root(2.0) - math.sqrt(2.0)) < 1e-12, "root(2.0) is wrong"',
                   'assert abs(root(9.0) - math.sqrt(9.0)) < 1e-12, "hidden: root(9.0) should be 3"', 2),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


@pytest.fixture(scope="module")
def reference_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("references")
    (root / "labs").mkdir()
    nbformat.write(reference_lab(), str(root / "labs" / "10_references.ipynb"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(FB.FORBIDDEN, "root", ("math.sqrt", "math.pow"))
        B.build(root / "labs", root / "assignments", log=lambda _: None)
    student = nbformat.read(str(root / "assignments" / "student" / "10_references.ipynb"), as_version=4)
    return root, student


def _with_cell(nb, grade_id, source):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
    return nb


def test_the_stub_names_the_references_and_the_manifest_keeps_them(reference_set):
    root, student = reference_set
    stub = next(c.source for c in student.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "root-solution")
    assert "Not allowed" in stub and "math.sqrt, math.pow" in stub
    manifest = json.loads((root / "assignments" / "autograder" / "10_references" / "manifest.json").read_text())
    assert manifest["exercises"][0]["forbidden"] == ["math.sqrt", "math.pow"]


def test_a_solution_that_calls_the_reference_scores_zero_static_and_at_run_time(reference_set):
    root, student = reference_set
    submissions = {
        "honest": "def root(x):\n    return x ** 0.5\n",  # the check itself still calls math.sqrt
        "direct": "def root(x):\n    return math.sqrt(x)\n",
        "aliased": "def root(x):\n    from math import sqrt as s\n    return s(x)\n",
        "helper": "def root(x):\n    return helper(x)\n",  # the call is in another cell: the run-time guard
        "captured": "s = getattr(math, 'sq' + 'rt')\n\ndef root(x):\n    return s(x)\n",  # saved before the check
        "swallowed": "def root(x):\n    try:\n        return getattr(math, 'sq' + 'rt')(x)\n"
                     "    except Exception:\n        return x ** 0.5\n",  # caught the grader's error: still 0
    }
    folder = root / "submissions"
    for name, source in submissions.items():
        (folder / name).mkdir(parents=True)
        nbformat.write(_with_cell(student, "root-solution", source), str(folder / name / "10_references.ipynb"))
    G.grade(folder, root / "grades", root / "assignments" / "autograder", exercise_timeout=20, log=lambda _: None)
    with open(root / "grades" / "scores.csv") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert rows["honest"]["points"] == "2" and rows["honest"]["status"] == "passed", rows["honest"]
    for name in set(submissions) - {"honest"}:
        assert rows[name]["points"] == "0" and rows[name]["status"] == "forbidden", rows[name]
        assert "math.sqrt" in rows[name]["feedback"], rows[name]
    assert rows["direct"]["feedback"].startswith("your solution cell uses math.sqrt (line 2)")  # the static layer
    assert "math.sqrt (line 2)" in rows["aliased"]["feedback"]
    for name in ("helper", "captured", "swallowed"):  # the run-time layer
        assert "ForbiddenReference: root used math.sqrt" in rows[name]["feedback"], rows[name]
    feedback = (root / "grades" / "feedback" / "helper" / "10_references.md").read_text()
    assert "root used math.sqrt" in feedback and "hidden: root(9.0)" not in feedback


def test_the_guard_blocks_every_route_to_a_reference_and_puts_everything_back():
    import math

    import torch
    import torch.nn.functional as F

    forbidden = FB.forbidden_of("01-log-softmax")
    saved, saved_f = torch.log_softmax, F.log_softmax

    def honest(z):
        m = z.amax(dim=-1, keepdim=True)
        return z - m - torch.log(torch.exp(z - m).sum(dim=-1, keepdim=True))

    routes = {"torch.log_softmax": lambda z: torch.log_softmax(z, dim=-1),
              "torch.nn.functional.log_softmax": lambda z: saved_f(z, dim=-1),  # an alias saved before
              "torch.Tensor.log_softmax": lambda z: z.log_softmax(-1),
              "torch.Tensor.logsumexp": lambda z: z - z.logsumexp(-1, keepdim=True),
              "torch.distributions": lambda z: torch.distributions.Categorical(logits=z).logits}
    namespace = {"honest": honest, **{f"cheat{i}": f for i, f in enumerate(routes.values())}}
    assert FB.guard(namespace, list(namespace), forbidden) == list(namespace)
    z = torch.randn(3, 5)
    assert torch.allclose(namespace["honest"](z), torch.log_softmax(z, dim=-1), atol=1e-6)
    for i, entry in enumerate(routes):
        with pytest.raises(FB.ForbiddenReference, match=f"cheat{i} used {entry}:"):
            namespace[f"cheat{i}"](z)
    assert torch.log_softmax is saved and F.log_softmax is saved_f and "log_softmax" not in vars(torch.Tensor)
    assert torch.log_softmax(z, dim=-1).shape == (3, 5) and math.isclose(math.sqrt(4.0), 2.0)
    import sys

    assert sys.getprofile() is None


def test_the_static_check_follows_aliases_and_lines():
    setup = "import torch\nimport torch.nn.functional as F\nfrom lablib import losses as L"
    forbidden = FB.forbidden_of("01-log-softmax")
    cases = {
        "def f(z):\n    return F.log_softmax(z, dim=-1)": [(2, "torch.nn.functional.log_softmax")],
        "from torch.nn.functional import log_softmax as ls\ndef f(z):\n    return ls(z, -1)":
            [(1, "torch.nn.functional.log_softmax"), (3, "torch.nn.functional.log_softmax")],
        "def f(z):\n    import torch.nn.functional as G\n    return G.log_softmax(z, -1)":
            [(3, "torch.nn.functional.log_softmax")],
        "def f(z):\n    return getattr(torch, 'log_softmax')(z, -1)": [(2, "torch.log_softmax")],
        "def f(z):\n    return z.log_softmax(-1)": [(2, "torch.Tensor.log_softmax")],
        "def f(z):\n    return L.log_softmax(z)": [(2, "lablib.losses.log_softmax")],
        "def f(z):\n    log_softmax = z - z.amax(-1, keepdim=True)\n    return log_softmax": [],  # a variable
    }
    for source, expected in cases.items():
        assert FB.forbidden_uses(source, forbidden, [setup]) == expected, source
    f1 = FB.forbidden_of("03-entity-f1")
    assert FB.forbidden_uses("from seqeval.metrics import f1_score as f\nscore = f", f1) == [(1, "seqeval"), (2, "seqeval")]
    assert FB.forbidden_uses("def g(a, b):\n    import seqeval.metrics\n    return 0", f1) == [(2, "seqeval")]
    assert FB.forbidden_uses("def evaluate(x):\n    return x", f1) == []  # a name, not the package


# the obvious shortcut for each exercise of the course: the static check must name it
SHORTCUTS = {
    "00-standardize": "def standardize(x, eps=1e-5):\n    return torch.nn.functional.layer_norm(x, x.shape[-1:], eps=eps)",
    "01-log-softmax": "def my_log_softmax(z):\n    return F.log_softmax(z, dim=-1)",
    "01-ce-grad": "def my_ce_grad(logits, targets):\n    z = logits.clone().requires_grad_(True)\n"
                  "    F.cross_entropy(z, targets).backward()\n    return z.grad",
    "02-attention": "def my_attention(q, k, v, mask=None):\n    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)",
    "03-align-labels": "def my_align_labels(word_ids, word_labels):\n    return ner.align_labels(word_ids, word_labels)",
    "03-entity-f1": "from seqeval.metrics import f1_score\n\ndef my_entity_f1(t, p):\n    return f1_score(t, p)",
    "04-macro-f1": "from sklearn.metrics import f1_score as f\n\ndef my_macro_f1(t, p):\n    return f(t, p, average='macro')",
    "05-masking": "def my_mask_tokens(ids, mask_id, num_special, vocab_size, generator, probability=0.15):\n"
                  "    return P.mask_tokens(ids, None, generator, probability)",
    "05-power-law": "import numpy as np\n\ndef my_power_law_alpha(n, loss):\n    return -np.polyfit(np.log(n), np.log(loss), 1)[0]",
    "06-exact-match": "def my_exact_match(p, t):\n    return E.exact_match(p, t)",
    "06-log-likelihood": "def my_answer_log_likelihood(logits, target):\n    return E.answer_log_likelihood(logits, target)",
    "07-error-kappa": "def my_error_kappa(a, b):\n    return M.cohen_kappa(a, b)",
    "07-linear-cka": "def my_linear_cka(x, y):\n    return M.linear_cka(x, y)",
    "08-merge": "def my_merge_step(words):\n    return tok.train_bpe(list(words), 257).merges[0], words",
    "08-top-p": "def my_top_p(q, p):\n    return G.next_token_probabilities(q.log()[None], top_p=p)[0]",
    "08-causal-mask": "def my_causal_mask(length, past=0):\n    return T.causal_mask(past + length)[past:]",
    "09-lora-forward": "def my_lora_forward(x, w, b, a, bb, alpha):\n    layer = A.LoRALinear(torch.nn.Linear(1, 1), 1)\n"
                       "    return layer(x)",
    "09-lora-count": "def my_lora_parameter_count(model, r, targets):\n    m = copy.deepcopy(model)\n"
                     "    n = T.count_parameters(m)\n    A.add_lora(m, r, targets=targets)\n    return T.count_parameters(m) - n",
}


def _course_exercises():
    for lab in LABS:
        nb = nbformat.read(str(lab), as_version=4)
        for exercise in M.exercises(nb, lab.name):
            yield lab, nb, exercise


def test_every_graded_exercise_lists_its_references_and_the_instructor_solution_uses_none():
    import importlib
    import importlib.util

    seen = set()
    for lab, nb, exercise in _course_exercises():
        seen.add(exercise.exercise)
        assert exercise.forbidden, (f"{lab.name}: {exercise.exercise} has no entry in coursetools.forbidden.FORBIDDEN "
                                    "(the check's reference and the library functions that do the whole exercise)")
        solution = nb.cells[M.cell_index(nb, exercise.solution_cell)].source
        uses = FB.forbidden_uses(solution, exercise.forbidden, M.code_before(nb, exercise.solution_cell))
        assert not uses, f"{lab.name}: the instructor's solution of {exercise.exercise} uses {uses}"
        setup = [c.source for c in nb.cells if M.SETUP_TAG in c.metadata.get("tags", [])]
        assert FB.forbidden_uses(SHORTCUTS[exercise.exercise], exercise.forbidden, setup), exercise.exercise
    assert seen == set(FB.FORBIDDEN) == set(SHORTCUTS), "FORBIDDEN has entries for exercises that no lab has"
    for entry in {e for entries in FB.FORBIDDEN.values() for e in entries}:  # no typos: each one exists if installed
        parts = entry.split(".")
        if importlib.util.find_spec(parts[0]) is None:
            continue
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
                break
            except ImportError:
                continue
        for part in parts[i:]:
            obj = getattr(obj, part, None)
        assert obj is not None and FB._resolve(entry), f"FORBIDDEN names {entry!r}, which does not exist"


@pytest.mark.slow
def test_labs_01_and_02_a_solution_that_calls_the_reference_scores_zero(course_set, tmp_path):
    out, manifests = course_set
    log_softmax = "def my_log_softmax(z):\n    return F.log_softmax(z, dim=-1)\n"  # static
    log_softmax_hidden = "def my_log_softmax(z):\n    return getattr(torch, 'log_' + 'softmax')(z, dim=-1)\n"
    ce_grad = ("def my_ce_grad(logits, targets):\n    z = logits.clone().requires_grad_(True)\n"
               "    (grad,) = torch.autograd.grad(F.cross_entropy(z, targets), z)\n    return grad\n")  # static
    ce_grad_hidden = ("def my_ce_grad(logits, targets):\n    z = logits.clone().requires_grad_(True)\n"
                      "    getattr(F.cross_entropy(z, targets), 'back' + 'ward')()\n    return z.grad\n")
    attention = "def my_attention(q, k, v, mask=None):\n    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)\n"
    attention_hidden = ("sdpa = getattr(F, 'scaled_dot_product_' + 'attention')\n\n"  # an alias saved before the check
                        "def my_attention(q, k, v, mask=None):\n    return sdpa(q, k, v, attn_mask=mask)\n")
    submissions = {
        ("a", "01_loss_math"): {"01-log-softmax-solution": log_softmax, "01-ce-grad-solution": ce_grad_hidden},
        ("b", "01_loss_math"): {"01-log-softmax-solution": log_softmax_hidden, "01-ce-grad-solution": ce_grad},
        ("a", "02_transformer"): {"02-attention-solution": attention},
        ("b", "02_transformer"): {"02-attention-solution": attention_hidden},
    }
    for (student, lab), cells in submissions.items():
        nb = nbformat.read(str(out / "student" / f"{lab}.ipynb"), as_version=4)
        for grade_id, source in cells.items():
            nb = _with_cell(nb, grade_id, source)
        (tmp_path / "submissions" / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(tmp_path / "submissions" / student / f"{lab}.ipynb"))
    G.grade(tmp_path / "submissions", tmp_path / "grades", out / "autograder", exercises_only=True, log=lambda _: None)
    with open(tmp_path / "grades" / "scores.csv") as handle:
        rows = {(row["student"], row["exercise"]): row for row in csv.DictReader(handle)}
    expected = {  # (student, exercise): (layer, the reference the feedback names)
        ("a", "01-log-softmax"): ("static", "torch.nn.functional.log_softmax (line 2)"),
        ("a", "01-ce-grad"): ("run time", "my_ce_grad used torch.Tensor.backward"),
        ("b", "01-log-softmax"): ("run time", "my_log_softmax used torch.log_softmax"),
        ("b", "01-ce-grad"): ("static", "torch.autograd.grad (line 3)"),
        ("a", "02-attention"): ("static", "torch.nn.functional.scaled_dot_product_attention (line 2)"),
        ("b", "02-attention"): ("run time", "my_attention used torch.nn.functional.scaled_dot_product_attention"),
    }
    assert set(rows) == set(expected)
    for key, (layer, named) in expected.items():
        row = rows[key]
        assert row["points"] == "0" and row["status"] == "forbidden", (layer, row)
        assert named in row["feedback"], (layer, row)
        assert row["feedback"].startswith("your solution cell uses") == (layer == "static"), (layer, row)
