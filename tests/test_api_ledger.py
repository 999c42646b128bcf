"""The API ledger of the student package: every public name of lablib earns its place.

A public name (no leading underscore, defined in its module, or listed in the
module's ``__all__``) must be

1. used by a lab (a code cell of labs/*.ipynb) or a chapter (book/*.md);
   an exception class, or a class that a public function returns (its return
   annotation), counts as used when it is tested: a student meets it through
   the function or the error,
2. named in a test (tests/*.py other than this file), and
3. documented: a function or class has a docstring that names a chapter
   (``book/<name>.md``, the chapter's title, or ``chapter "..."``) or a lab
   (``lab 03``, ``labs 05 and 07``, ``labs/03_ner_finetuning.ipynb``) that exists.

A name that fails is deleted or made private. Exceptions are listed in
ALLOWED with the reason, and must themselves still exist.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import lablib

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
CHAPTERS = sorted((ROOT / "book").glob("*.md"))

#: Public names that need not pass every rule, and why.
ALLOWED: dict[str, str] = {
    "lablib.checks.one_of": "a validator shared by the modules; a student meets it through its error messages",
    "lablib.checks.same_length": "a validator shared by the modules; a student meets it through its error messages",
    "lablib.checks.split_sizes": "a validator shared by the corpus generators; a student meets it through its errors",
    "lablib.env.is_offline": "one reading of the offline variables, shared by env.report and hub",
    "lablib.data.verify": "the checksum check of the data cache, shared by data and models.minilm_path",
    "lablib.ner_corpus.MIN_TOKENS": "the sentence-length bounds shared by the NER and pretraining corpora",
    "lablib.ner_corpus.MAX_TOKENS": "the sentence-length bounds shared by the NER and pretraining corpora",
    "lablib.losses.IGNORE_INDEX": "the label (-100) the losses skip, shared by losses, ner.align and pretraining",
}


def module_names() -> list[str]:
    names = ["lablib"]
    for info in pkgutil.walk_packages(lablib.__path__, prefix="lablib."):
        names.append(info.name)
    return sorted(names)


def defined_names(module) -> list[str]:
    """The public names a module defines itself (or lists in __all__), from its source."""
    if hasattr(module, "__all__") and module.__name__ != "lablib":
        return [n for n in module.__all__ if not n.startswith("_")]
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return []
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:  # NAME = ... and NAME, OTHER = ...
                names += [t.id for t in ([target] if isinstance(target, ast.Name) else getattr(target, "elts", []))
                          if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not n.startswith("_") and n != "annotations"]


def returned_classes(ledger) -> set[str]:
    """Names of the classes that public functions and methods of the package name as their return type."""
    names = set()
    for _, _, value in ledger:
        functions = [value] if inspect.isfunction(value) else (
            [v for v in vars(value).values() if inspect.isfunction(v) or isinstance(v, classmethod)]
            if inspect.isclass(value) else [])
        for function in functions:
            function = getattr(function, "__func__", function)
            annotation = function.__annotations__.get("return")
            if isinstance(annotation, str):
                names.update(re.findall(r"[A-Za-z_]\w*", annotation))
            elif annotation is not None:
                names.add(getattr(annotation, "__name__", ""))
    return names


def public_names() -> list[tuple[str, str, object]]:
    """(module, name, value) for each public name, a re-exported function or class listed once (where defined)."""
    found, seen = [], set()
    for name in module_names():
        module = importlib.import_module(name)
        for attribute in defined_names(module):
            value = getattr(module, attribute, None)
            if inspect.isfunction(value) or inspect.isclass(value):
                if value.__module__ != name and value.__module__.startswith("lablib"):
                    continue  # re-exported (e.g. by lablib.ner from lablib.ner.conll): counted where it is defined
                if id(value) in seen:
                    continue
                seen.add(id(value))
            found.append((name, attribute, value))
    return found


def lab_and_chapter_code() -> str:
    texts = []
    for lab in LABS:
        notebook = json.loads(lab.read_text())
        texts += ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    texts += [chapter.read_text() for chapter in CHAPTERS]
    return "\n".join(texts)


def _tests_text() -> str:
    return "\n".join(p.read_text() for p in (ROOT / "tests").glob("*.py") if p.name != Path(__file__).name)


def chapter_and_lab_references() -> list[str]:
    """Strings a docstring may use to name an existing chapter or lab."""
    references = [f"book/{c.stem}.md" for c in CHAPTERS] + [f"labs/{lab.name}" for lab in LABS]
    for chapter in CHAPTERS:
        title = re.search(r"^# (.+)$", chapter.read_text(), re.M)
        if title:
            references.append(title.group(1).strip())
        references.append(f"{chapter.stem} chapter")
        references.append(f"chapter {chapter.stem}")
    return references


def names_a_chapter_or_lab(doc: str, references: list[str]) -> bool:
    lab_numbers = {int(lab.name[:2]) for lab in LABS}
    for match in re.finditer(r"\b[Ll]abs? ((?:\d+(?:, | and | or |-))*\d+)", doc):
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        if numbers and all(n in lab_numbers for n in numbers):
            return True
    return any(reference in doc for reference in references)


LEDGER = public_names()


def test_the_ledger_sees_the_whole_package():
    modules = {module for module, _, _ in LEDGER}
    assert {"lablib.train", "lablib.losses", "lablib.transformer"} <= modules
    assert len(LEDGER) > 50


RULES = ("used by a lab or chapter", "named in a test", "documented with its chapter or lab")


def failing_names(rule: str) -> set[str]:
    code, tests, references = lab_and_chapter_code(), _tests_text(), chapter_and_lab_references()
    returned = returned_classes(LEDGER)
    failing = []
    for module, name, value in LEDGER:
        qualified = f"{module}.{name}"
        if qualified in ALLOWED:
            continue
        if rule == "used by a lab or chapter":
            ok = re.search(rf"\b{re.escape(name)}\b", code) is not None or (
                inspect.isclass(value) and (issubclass(value, Exception) or name in returned))
        elif rule == "named in a test":
            ok = re.search(rf"\b{re.escape(name)}\b", tests) is not None
        else:
            if not (inspect.isfunction(value) or inspect.isclass(value)):
                continue  # constants carry a #: comment in their module instead
            ok = names_a_chapter_or_lab(inspect.getdoc(value) or "", references)
        if not ok:
            failing.append(qualified)
    return set(failing)


@pytest.mark.parametrize("rule", RULES)
def test_every_public_name_earns_its_place(rule):
    failing = failing_names(rule)
    assert not failing, (f"{len(failing)} public names are not {rule}: {', '.join(sorted(failing))}. Delete them, "
                         "make them private (a leading underscore), or list them in ALLOWED with the reason.")


def test_the_ledger_fails_for_an_unused_public_function(monkeypatch):
    """A function added to lablib that no lab, chapter or test uses, without a chapter in its docstring, fails all rules."""
    import types

    fake = types.ModuleType("lablib.unused_example")
    exec("def shiny_new_helper():\n    \"\"\"Does something nobody asked for.\"\"\"\n", fake.__dict__)
    fake.shiny_new_helper.__module__ = fake.__name__
    monkeypatch.setattr(sys.modules[__name__], "LEDGER", LEDGER + [(fake.__name__, "shiny_new_helper", fake.shiny_new_helper)])
    for rule in RULES:
        assert "lablib.unused_example.shiny_new_helper" in failing_names(rule)


def test_allowed_names_still_exist():
    known = {f"{module}.{name}" for module, name, _ in LEDGER}
    assert set(ALLOWED) <= known, set(ALLOWED) - known
