"""Argument checks shared by every lablib module: one place, one wording (``book/preface.md``).

Each check returns the value it accepted (converted where that is safe) or raises an error that names the
function, the argument, the bad value and what was expected: ``train: epochs must be an integer >= 1, got 0``.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence


class ArgumentTypeError(TypeError, ValueError):
    """A wrong type of argument: both a TypeError and a ValueError, so either catches it (``book/preface.md``)."""


def instance(value: Any, cls: type | tuple, name: str, where: str):
    """``value`` itself, if it is an instance of ``cls`` (a class or a tuple of classes; ``book/preface.md``)."""
    if not isinstance(value, cls):
        names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        article = "an" if names[0] in "AEIOU" else "a"
        raise ArgumentTypeError(f"{where}: {name}: expected {article} {names}, got {type(value).__name__}")
    return value


def integer(value: Any, name: str, where: str, *, low: int | None = 1, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (either end may be None), bools refused (``book/preface.md``)."""
    if isinstance(value, bool) or not isinstance(value, int) or getattr(value, "ndim", 0):
        try:
            if isinstance(value, bool) or int(value) != value:
                raise TypeError
            value = int(value)
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"{where}: {name} must be an integer, got {value!r}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (f">= {low}" if high is None else f"<= {high}" if low is None else f"in {low}..{high}")
        raise ValueError(f"{where}: {name} must be an integer {bounds}, got {value}")
    return value


def number(value: Any, name: str, where: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float within the bounds, each open or closed (``book/preface.md``)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        result = float(value)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{where}: {name} must be a number, got {value!r}") from None
    too_low = low is not None and (result <= low if low_open else result < low)
    too_high = high is not None and (result >= high if high_open else result > high)
    if result != result or result in (float("inf"), float("-inf")) or too_low or too_high:
        left = "" if low is None else f"{'>' if low_open else '>='} {low}"
        right = "" if high is None else f"{'<' if high_open else '<='} {high}"
        raise ValueError(f"{where}: {name} must be a finite number {' and '.join(p for p in (left, right) if p)}, "
                         f"got {value!r}")
    return result


def fraction(value: Any, name: str, where: str) -> float:
    """``value`` as a float strictly between 0 and 1, e.g. a masking probability (``book/preface.md``)."""
    return number(value, name, where, low=0.0, high=1.0, low_open=True, high_open=True)


def one_of(value: Any, choices: Sequence, name: str, where: str):
    """``value`` itself, if it is one of ``choices`` (``book/preface.md``)."""
    if value not in choices:
        raise ValueError(f"{where}: {name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def same_length(where: str, **sequences) -> int:
    """The common length of the named sequences; the error lists every length (``book/preface.md``)."""
    lengths = {name: len(values) for name, values in sequences.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{where}: lengths differ: " + ", ".join(f"{n} has {k}" for n, k in lengths.items()))
    return next(iter(lengths.values()), 0)


def split_sizes(sizes: Mapping[str, int] | None, defaults: Mapping[str, int], where: str) -> dict:
    """``defaults`` updated with ``sizes`` (split -> number of items, each an int >= 0; labs 03 and 04)."""
    merged = dict(defaults)
    for split, size in (sizes or {}).items():
        if split not in defaults:
            raise ValueError(f"{where}: unknown split {split!r}; allowed: {', '.join(defaults)}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"{where}: sizes[{split!r}] must be an int >= 0, got {size!r}")
        merged[split] = size
    return merged
