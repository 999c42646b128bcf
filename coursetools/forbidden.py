"""References a solution may not use: the table, a static check of a cell, and a run-time guard.

Each graded exercise asks the student to write something that a library or
lablib already does, and its check compares the answer with that reference. A
solution that calls it would pass without doing the exercise, so the grader
scores it 0 in two ways: a static check of the submitted solution cell
(:func:`forbidden_uses`: imports, names and attributes, through aliases) and,
while the check cell calls the student's functions, a run-time guard
(:func:`guard`, :func:`forbid`) that replaces the references by functions that
raise and watches every call (so a helper in another cell, getattr or a saved
alias is caught too). The check itself may call the references.

The grader puts ``__import__('coursetools.forbidden').forbidden.guard(...)`` at
the top of each check cell, so this module runs inside the student's kernel:
it imports nothing but the standard library.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import sys
import types
from typing import Callable, Sequence

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
    "03-entity-f1": ("seqeval", "evaluate", "nervaluate", "lablib.ner.entity_scores", "lablib.ner.entity_spans",
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
    "08-merge": ("lablib.tokenization", "tokenizers", "transformers.models.gpt2.tokenization_gpt2",
                 "sentencepiece", "tiktoken"),
    "08-top-p": ("lablib.generation", "transformers.TopPLogitsWarper", "transformers.generation.logits_process"),
    "08-causal-mask": ("lablib.transformer.causal_mask", "lablib.transformer.Decoder", "transformers.masking_utils"),
    "09-lora-forward": ("lablib.adaptation", "peft", "loralib"),
    "09-lora-count": ("lablib.adaptation", "lablib.transformer.count_parameters", "peft", "loralib"),
}
_METHOD_PREFIX = "torch.Tensor."
FORBIDDEN_ADVICE = ("the grader scores 0 a solution that uses the reference it is checked against, or a library "
                    "function that does the whole exercise: write it with the operations the lab explains")


def plain_python(source: str) -> str:
    """A cell's source with IPython magics and shell escapes turned into plain Python (unchanged without IPython)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return source
    return TransformerManager().transform_cell(source)


def _parse_cell(source: str):
    """The cell as a Python syntax tree (IPython magics turned into calls first); None when it does not parse."""
    try:
        return ast.parse(plain_python(source))
    except (SyntaxError, ValueError):
        return None


def _outside_functions(tree):
    """The nodes of ``tree`` that run when the cell runs (not the bodies of functions, lambdas and classes)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if node is tree or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def _add_aliases(nodes, aliases: dict) -> None:
    """Record what each name bound by an import in ``nodes`` stands for: ``F`` -> ``torch.nn.functional``."""
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
    """The code objects that run when ``obj`` is called: a function's, a class's methods', a module's members'."""
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
