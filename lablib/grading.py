"""Checks with immediate, specific feedback for the exercises of every lab (first in lab 00).

A check prints one line when it passes and raises :class:`CheckFailed` (an ``AssertionError``) saying what is wrong.
"""
from __future__ import annotations

from typing import Any, Sequence


class CheckFailed(AssertionError):
    """A student's answer did not pass a check; the message says why (lab 00)."""


def _passed(name: str, detail: str = "") -> None:
    print(f"[pass] {name}" + (f": {detail}" if detail else ""))


def _as_array(value: Any, name: str, what: str):
    import numpy as np

    if value is None:
        raise CheckFailed(f"{name}: {what} is None. Did the function forget to `return` its result?")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor; no torch import needed
        return value.detach().cpu().double().numpy()
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as error:
        raise CheckFailed(f"{name}: {what} is a {type(value).__name__}, which is not numeric ({error})") from None


def check_shape(name: str, value: Any, expected: Sequence[int]) -> None:
    """Pass when ``value`` (tensor or array) has shape ``expected`` (labs 02, 05)."""
    if not hasattr(value, "shape"):  # None, a list, ...
        raise CheckFailed(f"{name}: expected a tensor/array of shape {tuple(expected)}, got {type(value).__name__}")
    shape = tuple(value.shape)
    if shape != tuple(expected):
        raise CheckFailed(f"{name}: expected shape {tuple(expected)}, got {shape}")
    _passed(name, f"shape {shape}")


def check_close(name: str, actual: Any, expected: Any, *, rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Pass when ``actual`` matches ``expected`` elementwise; a failure names the worst element (lab 00)."""
    import numpy as np

    got = _as_array(actual, name, "your answer")
    want = _as_array(expected, name, "the reference")
    if got.shape != want.shape:
        raise CheckFailed(f"{name}: your answer has shape {got.shape}, expected {want.shape}")
    if not np.all(np.isfinite(got)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        raise CheckFailed(f"{name}: your answer has a non-finite value ({got[bad]}) at index {bad}")
    error = np.abs(got - want)
    allowed = atol + rtol * np.abs(want)
    if np.all(error <= allowed):
        _passed(name, f"max abs error {error.max() if error.size else 0.0:.2e}")
        return
    worst = np.unravel_index(np.argmax(error - allowed), error.shape) if error.ndim else ()
    raise CheckFailed(f"{name}: not close enough at index {tuple(int(i) for i in worst)}: yours {got[worst]:.6g}, "
                      f"expected {want[worst]:.6g} (difference {error[worst]:.3g}, allowed {allowed[worst]:.3g}); "
                      f"{int((error > allowed).sum())} of {error.size} values are off")


def check_true(name: str, condition: bool, hint: str) -> None:
    """Pass when ``condition`` is true; otherwise fail with ``hint`` (labs 03-07)."""
    if not condition:
        raise CheckFailed(f"{name}: {hint}")
    _passed(name)


def check_cases(name: str, function, reference, cases: dict, *, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Compare a student's ``function`` with ``reference`` on ``cases``, a name -> arguments dict (lab 01)."""
    if not cases:
        raise ValueError("check_cases needs at least one case")
    for case, args in cases.items():
        args = args if isinstance(args, tuple) else (args,)
        try:
            got = function(*args)
        except Exception as error:  # the student's bug, reported rather than propagated
            raise CheckFailed(f"{name}, case '{case}': your function raised {type(error).__name__}: {error}") from None
        check_close(f"{name}, case '{case}'", got, reference(*args), rtol=rtol, atol=atol)
    print(f"[pass] {name}: all {len(cases)} cases")
