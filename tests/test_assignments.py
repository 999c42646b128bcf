"""lablib.assignments: the student build, the autograder bundle and the grader (issue: assignments).

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

from lablib import assignments as A

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
    return new_code_cell(source, metadata=_meta(f"{name}{A.SOLUTION_SUFFIX}", solution=True))


def check_cell(name, visible, hidden, points):
    source = f"{visible}\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS\n"
    return new_code_cell(source, metadata=_meta(name, grade=True, points=points))


def synthetic_lab():
    """Three exercises (double, square, cube) and ordinary cells before, between and after them."""
    setup = new_code_cell("import math\nscale = 2", metadata={"tags": [A.SETUP_TAG]})
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
        if cell.metadata.get("nbgrader", {}).get("grade_id") == f"{name}{A.SOLUTION_SUFFIX}":
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
    A.build(labs, root / "assignments", log=lambda _: None)
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
    A.grade(folder, out, root / "assignments" / "autograder", **options)
    with open(out / "scores.csv") as handle:
        rows = {(row["student"], row["exercise"]): row for row in csv.DictReader(handle)}
    return rows, out


def points(rows, student):
    return {exercise: float(row["points"]) for (name, exercise), row in rows.items() if name == student}


# ----------------------------------------------------------------------------- the build


def test_student_notebook_has_stubs_with_hints_and_no_solution_or_hidden_test(synthetic):
    root, student, instructor = synthetic
    text = "\n".join(cell.source for cell in student.cells)
    for line in A.solution_lines(instructor):
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
    assert student.metadata[A.METADATA_KEY]["lab"] == "09_synthetic"


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
    with pytest.raises(A.AssignmentError, match=message):
        A.exercises(nb, "09_synthetic.ipynb")


def test_a_later_cell_that_uses_an_exercise_name_is_reported():
    nb = synthetic_lab()
    assert A.dependency_problems(nb) == []
    nb.cells.append(new_code_cell("print(square(4))"))  # runs on the stub in the student version
    nb.cells.append(new_code_cell("scale = 3\ndef f(x):\n    return x * scale"))  # scale: a setup name, fine
    assert A.dependency_problems(nb) == ["cell 10 uses 'square', which graded cell 'square-solution' defines"]
    nb.cells.insert(10, new_code_cell("def square(x):\n    return x ** 2"))  # redefined by an ungraded cell: fine
    assert A.dependency_problems(nb) == []


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
    stripped.metadata.pop(A.METADATA_KEY, None)
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
    bundles = A.load_bundles(root / "assignments" / "autograder")
    nbformat.write(student, str(tmp_path / "bob_09_synthetic.ipynb"))
    (tmp_path / "carol").mkdir()
    nbformat.write(student, str(tmp_path / "carol" / "renamed.ipynb"))  # lab from the notebook's metadata
    (tmp_path / "notes.ipynb").write_text("{}")
    found, problems = A.find_submissions(tmp_path, bundles)
    assert {(s.student, s.lab) for s in found} == {("bob", "09_synthetic"), ("carol", "09_synthetic")}
    assert [p.name for p, _ in problems] == ["notes.ipynb"] and "cannot tell which lab" in problems[0][1]
    with pytest.raises(A.AssignmentError, match="no autograder bundles"):
        A.load_bundles(tmp_path / "nowhere")


def test_command_line_errors_are_one_clear_line(tmp_path, capsys):
    assert A.main(["grade", str(tmp_path), "--out", str(tmp_path / "out"), "--autograder", str(tmp_path)]) == 2
    assert "no autograder bundles" in capsys.readouterr().err
    assert A.main(["build", "99_missing", "--labs", str(ROOT / "labs"), "--out", str(tmp_path)]) == 2
    assert "no lab '99_missing'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the course's labs


def _visible_text(instructor) -> str:
    """Everything a student may see: each cell without its solution and hidden-test regions."""
    parts = []
    for index, cell in enumerate(instructor.cells):
        source = cell.source
        for begin, end in (("BEGIN SOLUTION", "END SOLUTION"), ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")):
            source = "\n".join(A.split_regions(source, begin, end, f"cell {index}")[0])
        parts.append(source)
    return "\n".join(parts)


@pytest.fixture(scope="session")
def course_set(tmp_path_factory):
    """`make assignments` for the course's labs: (output folder, {lab: manifest})."""
    out = tmp_path_factory.mktemp("course-assignments")
    manifests = A.build(ROOT / "labs", out, log=lambda _: None)
    return out, {m["lab"]: m for m in manifests}


@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_every_lab_has_one_to_three_graded_exercises(lab):
    found = A.exercises(nbformat.read(str(lab), as_version=4), lab.name)
    assert 1 <= len(found) <= 3, f"{lab.name} has {len(found)} graded exercises; book/instructors.md says how to add one"
    assert all(e.hint for e in found), "every solution region has a '# HINT:' line for the stub"


@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_no_solution_text_survives_in_the_student_notebook(course_set, lab):
    out, manifests = course_set
    instructor = nbformat.read(str(lab), as_version=4)
    student = nbformat.read(str(out / "student" / lab.name), as_version=4)
    student_text = "\n".join(cell.source for cell in student.cells)
    visible = _visible_text(instructor)
    secret = [line for line in A.solution_lines(instructor)
              if not line.startswith("# HINT:") and line not in visible]
    assert len(secret) >= 0.8 * len(A.solution_lines(instructor)) - len(manifests[lab.stem]["exercises"])
    leaked = [line for line in secret if line in student_text]
    assert not leaked, f"solution or hidden-test lines in the student notebook: {leaked}"
    assert not any(cell.get("outputs") for cell in student.cells), "the student notebook stores outputs"
    assert student_text.count("raise NotImplementedError(") >= len(manifests[lab.stem]["exercises"])


@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_no_ungraded_cell_depends_on_an_exercise(lab):
    problems = A.dependency_problems(nbformat.read(str(lab), as_version=4))
    assert not problems, f"{lab.name}: " + "; ".join(problems)


def _grade_lab(course_set, tmp_path, lab: str, **options):
    """Grade the instructor notebook and the student notebook of `lab`: (scores.csv rows, output folder)."""
    out, manifests = course_set
    submissions = tmp_path / "submissions"
    for student, source in (("instructor", ROOT / "labs" / f"{lab}.ipynb"), ("student", out / "student" / f"{lab}.ipynb")):
        (submissions / student).mkdir(parents=True)
        (submissions / student / f"{lab}.ipynb").write_bytes(source.read_bytes())
    grades = tmp_path / "grades"
    A.grade(submissions, grades, out / "autograder", log=lambda _: None, **options)
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
        errors = [(i, A.error_line(c)) for i, c in enumerate(graded.cells)
                  if c.cell_type == "code" and A.error_line(c) and "nbgrader" not in c.metadata]
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
