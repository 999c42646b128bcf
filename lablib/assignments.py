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

The table :data:`FORBIDDEN` lists, for each exercise, the references a
solution may not use: the functions its check compares with and the library
functions that do the whole exercise. A solution cell that names one scores 0
(:func:`forbidden_uses`, a static check that follows imports and aliases), and
so does a solution that reaches one at run time: the grader puts a
:func:`guard` line at the top of each check cell, so that while the check
calls the student's functions every listed reference raises
:class:`ForbiddenReference` (the check's own calls of the reference are not
affected). The student's stub lists them.

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
import contextlib
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
    forbidden: tuple = ()  # references a solution may not use (FORBIDDEN): scored 0 if it does


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


def stub(hint: str, forbidden: Sequence[str] = ()) -> str:
    """What replaces a solution region in the student notebook (with the references it may not use, if any)."""
    import textwrap

    message = f"Hint: {hint}" if hint else "write your solution here"
    lines = [STUB_FIRST_LINE]
    if forbidden:
        note = "Not allowed (a solution that uses any of these scores 0): " + ", ".join(forbidden)
        lines += ["# " + line for line in textwrap.wrap(note, 96)]
    return "\n".join(lines + [f"raise NotImplementedError({message!r})"])


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
        result.append(Exercise(grade_id, points, grade_id + SOLUTION_SUFFIX, _hint(solution_source), visible,
                               forbidden_of(grade_id)))
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


# ----------------------------------------------------------------------------- references a solution may not use

# Each graded exercise asks the student to write something that a library or
# lablib already does: the check compares the answer with that reference. A
# solution that calls it would pass without doing the exercise, so the grader
# scores it 0, in two ways: a static check of the submitted solution cell
# (:func:`forbidden_uses`: imports, names and attributes, through aliases) and,
# while the check cell calls the student's functions, a run-time guard
# (:func:`guard`, :func:`forbid`) that replaces the references by functions
# that raise and watches every call (so a helper in another cell, getattr or a
# saved alias is caught too). The check itself may call the references: the
# guard is on only while a student's function runs.
#
# An entry is a dotted name: a function or class (``torch.nn.functional.log_softmax``),
# a whole module (``seqeval``: everything in it), or ``torch.Tensor.<method>``
# (the tensor method, whatever the tensor is called). List the functions the
# check compares with and the library functions that do the whole exercise;
# tests/test_assignments.py fails for a graded exercise without an entry.
_AUTOGRAD = ("torch.autograd.grad", "torch.autograd.backward", "torch.Tensor.backward", "torch.autograd.functional",
             "torch.func", "functorch")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "00-standardize": (
        "torch.nn.functional.layer_norm", "torch.layer_norm", "torch.native_layer_norm", "torch.nn.LayerNorm",
        "torch.nn.functional.instance_norm", "torch.instance_norm", "torch.nn.InstanceNorm1d",
        "torch.nn.functional.group_norm", "torch.group_norm", "torch.nn.GroupNorm",
        "torch.nn.functional.batch_norm", "torch.batch_norm", "torch.nn.BatchNorm1d",
        "sklearn.preprocessing", "scipy.stats.zscore"),
    "01-log-softmax": (
        "torch.log_softmax", "torch.nn.functional.log_softmax", "torch.special.log_softmax", "torch.Tensor.log_softmax",
        "torch.nn.LogSoftmax", "torch.logsumexp", "torch.special.logsumexp", "torch.Tensor.logsumexp",
        "torch.nn.functional.cross_entropy", "torch.nn.CrossEntropyLoss", "torch.distributions",
        "scipy.special.log_softmax", "scipy.special.logsumexp",
        "lablib.losses.log_softmax", "lablib.losses.logsumexp", "lablib.losses.cross_entropy"),
    "01-ce-grad": _AUTOGRAD + ("lablib.losses.cross_entropy_grad", "lablib.losses.two_layer_loss_and_grads"),
    "02-attention": (
        "torch.nn.functional.scaled_dot_product_attention", "torch.nn.functional.multi_head_attention_forward",
        "torch.nn.MultiheadAttention", "torch._native_multi_head_attention",
        "lablib.transformer.attention", "lablib.transformer.MultiHeadAttention",
        "transformers.integrations.sdpa_attention", "transformers.models.bert.modeling_bert"),
    "03-align-labels": ("lablib.ner.align_labels", "lablib.ner.tokenize_and_align"),
    "03-entity-f1": ("seqeval", "evaluate", "nervaluate", "lablib.ner.entity_scores", "lablib.ner._entities",
                     "lablib.homogenization.entity_items"),
    "04-macro-f1": ("sklearn.metrics", "torchmetrics", "evaluate"),
    "05-masking": ("lablib.pretraining.mask_tokens", "lablib.pretraining.MaskingCollator",
                   "transformers.DataCollatorForLanguageModeling", "transformers.data.data_collator"),
    "05-power-law": ("lablib.pretraining.fit_power_law", "lablib.pretraining.PowerLawFit", "numpy.polyfit",
                     "numpy.polynomial", "numpy.linalg.lstsq", "torch.linalg.lstsq", "scipy.stats.linregress",
                     "scipy.stats.theilslopes", "scipy.stats.siegelslopes", "scipy.linalg.lstsq", "scipy.optimize",
                     "sklearn.linear_model", "statsmodels"),
    "06-exact-match": ("lablib.emergence.exact_match", "lablib.emergence.per_token_accuracy", "sklearn.metrics",
                       "torchmetrics"),
    "06-log-likelihood": ("lablib.emergence.answer_log_likelihood", "torch.nn.functional.cross_entropy",
                          "torch.nn.functional.nll_loss", "torch.nn.CrossEntropyLoss", "torch.nn.NLLLoss",
                          "torch.distributions", "lablib.losses.cross_entropy", "lablib.losses.causal_lm_loss",
                          "lablib.losses.masked_lm_loss"),
    "07-error-kappa": ("lablib.metrics", "sklearn.metrics", "statsmodels"),
    "07-linear-cka": ("lablib.metrics", "torchmetrics"),
}
_METHOD_PREFIX = "torch.Tensor."
FORBIDDEN_ADVICE = ("the grader scores 0 a solution that uses the reference it is checked against, or a library "
                    "function that does the whole exercise: write it with the operations the lab explains")


def _parse_cell(source: str):
    """The cell as a Python syntax tree (IPython magics turned into calls first); None when it does not parse."""
    import ast

    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except ImportError:
        pass
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _outside_functions(tree):
    """The nodes of ``tree`` that run when the cell runs (not the bodies of functions, lambdas and classes)."""
    import ast

    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if node is tree or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def _add_aliases(nodes, aliases: dict) -> None:
    """Record what each name bound by an import in ``nodes`` stands for: ``F`` -> ``torch.nn.functional``."""
    import ast

    for node in nodes:
        if isinstance(node, ast.Import):
            for name in node.names:
                if name.asname:
                    aliases[name.asname] = name.name
                else:
                    top = name.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for name in node.names:
                if name.name != "*":
                    aliases[name.asname or name.name] = f"{node.module}.{name.name}"


def _dotted(node, aliases: dict) -> str | None:
    """``F.log_softmax`` -> ``torch.nn.functional.log_softmax`` when ``F`` is an imported name; else None."""
    import ast

    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in aliases:
        return ".".join([aliases[node.id]] + parts[::-1])
    return None


def _entry_for(path: str | None, forbidden: Sequence[str]) -> str | None:
    """The entry of ``forbidden`` that ``path`` is, or lies inside (a module's member); None if none."""
    if path:
        for entry in forbidden:
            if path == entry or path.startswith(entry + "."):
                return entry
    return None


def forbidden_uses(source: str, forbidden: Sequence[str], context: Sequence[str] = ()) -> list[tuple[int, str]]:
    """``[(line, entry)]``: where the cell ``source`` imports, names or reaches an entry of ``forbidden``.

    Names are followed through the imports of ``source`` and of the cells in
    ``context`` (the cells that ran before it): after ``import
    torch.nn.functional as F``, ``F.log_softmax`` is
    ``torch.nn.functional.log_softmax``; after ``from seqeval.metrics import
    f1_score as f``, ``f`` is inside ``seqeval``. An entry
    ``torch.Tensor.<method>`` matches any ``.<method>`` attribute, and
    ``getattr(x, "name")``, ``__import__("name")`` and
    ``importlib.import_module("name")`` with a written-out string count as
    naming it. Code that builds a name at run time is left to :func:`guard`.
    """
    import ast

    forbidden = tuple(forbidden)
    tree = _parse_cell(source) if forbidden else None
    if tree is None:
        return []
    aliases: dict[str, str] = {}
    for earlier in context:
        parsed = _parse_cell(earlier)
        if parsed is not None:
            _add_aliases(_outside_functions(parsed), aliases)
    _add_aliases(ast.walk(tree), aliases)
    methods = {entry[len(_METHOD_PREFIX):]: entry for entry in forbidden if entry.startswith(_METHOD_PREFIX)}
    found: dict[tuple[int, str], None] = {}
    for node in ast.walk(tree):
        entries = []
        if isinstance(node, ast.Import):
            entries = [_entry_for(name.name, forbidden) for name in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for name in node.names:
                if name.name == "*":
                    entries += [e for e in forbidden if _entry_for(e, [node.module]) or _entry_for(node.module, [e])]
                else:
                    entries.append(_entry_for(f"{node.module}.{name.name}", forbidden))
        elif isinstance(node, (ast.Attribute, ast.Name)):
            entries.append(_entry_for(_dotted(node, aliases), forbidden))
            if isinstance(node, ast.Attribute) and _dotted(node.value, aliases) is None:  # a method of a value
                entries.append(methods.get(node.attr))
        elif isinstance(node, ast.Call) and node.args:
            function = node.func.id if isinstance(node.func, ast.Name) else _dotted(node.func, aliases)
            strings = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if function in ("getattr", "builtins.getattr") and len(node.args) >= 2 and strings:
                name = strings[0]
                base = _dotted(node.args[0], aliases)
                entries.append(_entry_for(f"{base}.{name}", forbidden) if base else methods.get(name))
            elif function in ("__import__", "importlib.import_module", "builtins.__import__") and strings:
                entries.append(_entry_for(strings[0], forbidden))
        for entry in entries:
            if entry:
                found[(node.lineno, entry)] = None
    return sorted(found)


class ForbiddenReference(Exception):
    """A student's function called a reference that the grader does not allow in the exercise (see FORBIDDEN)."""


def _resolve(entry: str) -> tuple:
    """``(owner, attribute, object)`` for a dotted name (``owner`` None for a module); ``()`` if not loaded yet.

    Nothing is imported: a module that no code has imported cannot have been
    called, and an entry that is not loaded is recognised by its name instead
    (see :func:`forbid`), should the student's code import it.
    """
    import types

    parts = entry.split(".")
    for i in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:i]))
        if module is None:
            continue
        owner, obj = None, module
        for part in parts[i:]:
            if isinstance(obj, types.ModuleType):  # not getattr: lazy modules (transformers) would import
                owner, obj = obj, vars(obj).get(part, _MISSING)
            else:
                owner, obj = obj, getattr(obj, part, _MISSING)
            if obj is _MISSING:
                return ()
        return owner, parts[-1] if owner is not None else None, obj
    return ()


_MISSING = object()


def _codes_of(obj, top: str) -> list:
    """The code objects that run when ``obj`` is called: a function's (unwrapped), a class's methods', a module's members'."""
    import inspect
    import types

    def of_function(f) -> list:
        try:
            f = inspect.unwrap(f)
        except Exception:  # a cycle of __wrapped__, or an object with an odd __getattr__
            pass
        code = getattr(f, "__code__", None)
        return [code] if isinstance(code, types.CodeType) else []

    def of_class(cls) -> list:
        return [code for value in vars(cls).values() for code in of_function(getattr(value, "__func__", value))]

    if inspect.ismodule(obj):
        codes = []
        for value in vars(obj).values():
            if inspect.ismodule(value) or not str(getattr(value, "__module__", None) or "").startswith(top):
                continue
            codes += of_class(value) if inspect.isclass(value) else of_function(value)
        return codes
    return of_class(obj) if inspect.isclass(obj) else of_function(obj)


def _watch(forbidden: tuple) -> tuple:
    """``(codes, builtins, methods, modules, unloaded, patches)``: how to recognise a call of each entry."""
    import inspect
    import types

    codes, builtins, methods, modules, unloaded, patches = {}, {}, {}, [], [], []
    for entry in forbidden:
        resolved = _resolve(entry)
        if not resolved:
            parent, _, leaf = entry.rpartition(".")
            unloaded.append((entry, parent or entry, leaf))
            continue
        owner, attribute, obj = resolved
        if inspect.ismodule(obj):
            modules += [(entry, entry), (obj.__name__, entry)]
        key = (id(obj), entry)
        if key not in _CODES or _CODES[key][0] is not obj:
            _CODES[key] = (obj, _codes_of(obj, entry.split(".")[0]))
        for code in _CODES[key][1]:
            codes.setdefault(code, entry)
        if isinstance(obj, types.BuiltinFunctionType):
            builtins[id(obj)] = (obj, entry)
        elif isinstance(obj, (types.MethodDescriptorType, types.WrapperDescriptorType)):
            methods.setdefault(obj.__name__, []).append((obj.__objclass__, entry))
        if owner is not None:
            patches.append((owner, attribute, entry))
    return codes, builtins, methods, modules, unloaded, patches


_CODES: dict[tuple, tuple] = {}


def _raiser(entry: str, violation: Callable[[str], None]):
    def forbidden_reference(*args, **kwargs):
        violation(entry)

    forbidden_reference.__name__ = forbidden_reference.__qualname__ = entry.rsplit(".", 1)[-1]
    return forbidden_reference


@contextlib.contextmanager
def forbid(forbidden: Sequence[str], who: str = "your function"):
    """While the block runs, every entry of ``forbidden`` raises :class:`ForbiddenReference`; yields the list of those used.

    Two layers: each entry is replaced where it lives (``torch.log_softmax``,
    ``torch.Tensor.log_softmax``, ...) by a function that raises, and a
    profiler (``sys.setprofile``) recognises a call of the original object
    however it was reached (an alias saved earlier, ``getattr``, a helper in
    another cell, or code inside a forbidden module). Everything is put back
    on leaving the block. The list records each use even when the code
    caught the exception, so the caller can still refuse the result.
    """
    codes, builtins, methods, modules, unloaded, patches = _watch(tuple(forbidden))
    used: list[str] = []

    def violation(entry: str) -> None:
        if entry not in used:
            used.append(entry)
        raise ForbiddenReference(f"{who} used {entry}: {FORBIDDEN_ADVICE}")

    importing: list = []  # module bodies running (an import inside the call): not checked

    def profiler(frame, event, arg):
        if importing:
            if event == "return" and frame is importing[-1]:
                importing.pop()
            return
        entry = None
        if event == "call":
            if frame.f_code.co_name == "<module>" and _is_import(frame):
                importing.append(frame)
                return
            entry = codes.get(frame.f_code)
            if entry is None and (modules or unloaded):
                name = frame.f_globals.get("__name__")
                if isinstance(name, str):
                    entry = next((e for m, e in modules if name == m or name.startswith(m + ".")), None)
                    if entry is None and unloaded:  # imported during the call: known by module and name
                        qualname = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
                        entry = next((e for e, parent, leaf in unloaded if name == e or name.startswith(e + ".")
                                      or ((name == parent or name.startswith(parent + "."))
                                          and (qualname == leaf or qualname.startswith(leaf + ".")))), None)
        elif event == "c_call":
            known = builtins.get(id(arg))
            if known is not None and known[0] is arg:
                entry = known[1]
            elif methods:
                owners = methods.get(getattr(arg, "__name__", None))
                if owners:
                    bound_to = getattr(arg, "__self__", None)
                    entry = next((e for cls, e in owners if isinstance(bound_to, cls)), None)
        if entry is not None:
            violation(entry)  # raising here ends the profiler (CPython unsets it); the patches stay

    saved = []
    for owner, attribute, entry in patches:
        had = attribute in vars(owner)
        original = vars(owner).get(attribute)
        try:
            setattr(owner, attribute, _raiser(entry, violation))
        except (AttributeError, TypeError):  # a C type: the profiler still sees the call
            continue
        saved.append((owner, attribute, had, original))
    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        yield used
    finally:
        sys.setprofile(previous)
        for owner, attribute, had, original in reversed(saved):
            if had:
                setattr(owner, attribute, original)
            else:
                delattr(owner, attribute)


def _is_import(frame) -> bool:
    """Whether ``frame`` runs the body of a module being imported (not code given to exec)."""
    name = frame.f_globals.get("__name__")
    module = sys.modules.get(name) if isinstance(name, str) and name != "__main__" else None
    return module is not None and frame.f_globals.get("__spec__") is not None and vars(module) is frame.f_globals


_GUARDING: list[bool] = [False]


def _guarded(function, name: str, forbidden: tuple):
    import functools

    @functools.wraps(function)
    def guarded(*args, **kwargs):
        if _GUARDING[0]:  # one guarded function calling another: the outer guard is on
            return function(*args, **kwargs)
        _GUARDING[0] = True
        try:
            with forbid(forbidden, name) as used:
                try:
                    result = function(*args, **kwargs)
                except ForbiddenReference:
                    raise
                except Exception:
                    if used:  # the student caught our error and failed otherwise: say why
                        raise ForbiddenReference(f"{name} used {used[0]}: {FORBIDDEN_ADVICE}") from None
                    raise
        finally:
            _GUARDING[0] = False
        if used:  # the student's code caught the error and went on
            raise ForbiddenReference(f"{name} used {used[0]}: {FORBIDDEN_ADVICE}")
        return result

    guarded.__lablib_guarded__ = True
    return guarded


def guard(namespace: dict, functions: Sequence[str], forbidden: Sequence[str]) -> list[str]:
    """Wrap the student's ``functions`` in ``namespace`` so that each call runs under :func:`forbid`; return those wrapped.

    The grader puts one line calling this at the top of a check cell, so the
    check's own references run unguarded while the student's functions cannot
    reach them.
    """
    wrapped = []
    for name in functions:
        function = namespace.get(name)
        if callable(function) and not getattr(function, "__lablib_guarded__", False):
            namespace[name] = _guarded(function, name, tuple(forbidden))
            wrapped.append(name)
    return wrapped


def forbidden_of(exercise: str) -> tuple[str, ...]:
    """The references the grader does not allow in ``exercise`` (a check cell's grade_id); () when it has no entry."""
    return tuple(FORBIDDEN.get(exercise, ()))


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
            grade_id = _grade_id(cell) or ""
            exercise = grade_id[: -len(SOLUTION_SUFFIX)] if grade_id.endswith(SOLUTION_SUFFIX) else grade_id
            self.code_stub = {**default, language: stub(_hint(cell.source), forbidden_of(exercise))}
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
        for exercise in found:
            if not exercise.forbidden:
                log(f"{lab}: WARNING: exercise {exercise.exercise!r} has no entry in lablib.assignments.FORBIDDEN: "
                    "a solution that calls its reference would pass")
            for line, entry in forbidden_uses(instructor.cells[_cell_index(instructor, exercise.solution_cell)].source,
                                              exercise.forbidden, _code_before(instructor, exercise.solution_cell)):
                log(f"{lab}: WARNING: the instructor's solution of {exercise.exercise!r} uses {entry} (line {line}), "
                    "which FORBIDDEN does not allow: it would score 0")
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


def _cell_index(nb, grade_id: str) -> int | None:
    return next((i for i, c in enumerate(nb.cells) if _grade_id(c) == grade_id), None)


def _code_before(nb, grade_id: str) -> list[str]:
    """The sources of the code cells above the cell ``grade_id`` (what has run when it runs)."""
    index = _cell_index(nb, grade_id)
    return [c.source for c in nb.cells[: index or 0] if c.cell_type == "code"]


def _forbidden_in(exercise: dict) -> tuple[str, ...]:
    """An exercise's references from its manifest entry (bundles built before the key existed: the table)."""
    return tuple(exercise["forbidden"]) if "forbidden" in exercise else forbidden_of(exercise["exercise"])


def _arm_checks(graded, manifest: dict, autograder) -> None:
    """Put a :func:`guard` line at the top of each check cell with references: the student's functions run guarded."""
    for exercise in manifest["exercises"]:
        forbidden = _forbidden_in(exercise)
        check, solution = _cell_index(graded, exercise["exercise"]), _cell_index(autograder, exercise["solution_cell"])
        if not forbidden or check is None or solution is None:
            continue
        functions = sorted(_names(autograder.cells[solution].source)[0])
        line = (f"__import__('lablib.assignments').assignments.guard(globals(), {functions!r}, {list(forbidden)!r})"
                "  # added by the grader\n")
        graded.cells[check].source = line + graded.cells[check].source


def grade_notebook(nb, manifest: dict, autograder, *, student: str = "student", exercises_only: bool = False,
                   exercise_timeout: float = 60, cell_timeout: float = 1800, grace: float = 10,
                   profile: str | None = "small", workdir: str | os.PathLike | None = None):
    """Grade one submitted notebook; return ``(scores, graded notebook, {cell index: CellRun})``."""
    lab = manifest["lab"]
    graded = _compose_exercises_only(nb, autograder) if exercises_only else _compose_full(nb, autograder)
    _arm_checks(graded, manifest, autograder)

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
        if status != "passed" and ForbiddenReference.__name__ in feedback:
            status = "forbidden"  # the guard stopped a call of a reference while the check ran the student's code
        solution_index = where.get(exercise["solution_cell"])
        uses = [] if solution_index is None else forbidden_uses(
            graded.cells[solution_index].source, _forbidden_in(exercise), _code_before(graded, exercise["solution_cell"]))
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
            print(f"  {'':<28} {'':>4}  not allowed: {', '.join(e.forbidden) or '- (no entry in FORBIDDEN)'}")


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
