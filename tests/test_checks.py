"""lablib.checks: the argument checks every module shares, one wording for each kind of mistake."""
import numpy as np
import pytest
import torch

from lablib import checks


def test_integer_accepts_whole_numbers_and_names_function_argument_and_value():
    assert checks.integer(3, "epochs", "train") == 3
    assert checks.integer(np.int64(4), "k", "f", low=0) == 4 and checks.integer(5.0, "k", "f") == 5
    with pytest.raises(ValueError, match=r"^train: epochs must be an integer >= 1, got 0$"):
        checks.integer(0, "epochs", "train")
    with pytest.raises(ValueError, match=r"f: k must be an integer in 0\.\.8, got 9"):
        checks.integer(9, "k", "f", low=0, high=8)
    with pytest.raises(ValueError, match=r"f: k must be an integer <= 2, got 3"):
        checks.integer(3, "k", "f", low=None, high=2)
    for bad in (1.5, "1", True, None):
        with pytest.raises(TypeError, match=rf"f: k must be an integer, got {bad!r}"):
            checks.integer(bad, "k", "f")


def test_number_and_fraction_bounds_open_and_closed():
    assert checks.number(2, "lr", "f", low=0, low_open=True) == 2.0
    assert checks.number(0, "x", "f", low=0) == 0.0
    with pytest.raises(ValueError, match=r"f: lr must be a finite number > 0, got 0"):
        checks.number(0, "lr", "f", low=0, low_open=True)
    with pytest.raises(ValueError, match=r"must be a finite number >= 0 and <= 1, got 1.5"):
        checks.number(1.5, "p", "f", low=0, high=1)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite"):
            checks.number(bad, "x", "f")
    with pytest.raises(TypeError, match=r"f: x must be a number, got 'a'"):
        checks.number("a", "x", "f")
    assert checks.fraction(0.15, "mask_prob", "f") == 0.15
    for bad in (0, 1, -0.1):
        with pytest.raises(ValueError, match=r"mask_prob must be a finite number > 0.0 and < 1.0"):
            checks.fraction(bad, "mask_prob", "f")


def test_one_of_and_same_length():
    assert checks.one_of("sum", ("mean", "sum"), "reduction", "f") == "sum"
    with pytest.raises(ValueError, match=r"^f: reduction must be one of 'mean', 'sum', got 'avg'$"):
        checks.one_of("avg", ("mean", "sum"), "reduction", "f")
    assert checks.same_length("f", tokens=[1, 2], tags="ab") == 2
    assert checks.same_length("f") == 0
    with pytest.raises(ValueError, match=r"^f: lengths differ: tokens has 2, tags has 1$"):
        checks.same_length("f", tokens=[1, 2], tags=[1])


def test_instance_names_the_argument_and_both_types():
    model = torch.nn.Linear(1, 1)
    assert checks.instance(model, torch.nn.Module, "model", "f") is model
    assert checks.instance(3, (str, int), "x", "f") == 3
    with pytest.raises(checks.ArgumentTypeError, match=r"^f: model: expected an Embedding, got Linear$"):
        checks.instance(model, torch.nn.Embedding, "model", "f")
    with pytest.raises(TypeError, match=r"^f: x: expected a str or int, got NoneType$"):
        checks.instance(None, (str, int), "x", "f")
    with pytest.raises(ValueError, match="expected a str"):  # an ArgumentTypeError is a ValueError too
        checks.instance(None, str, "x", "f")


def test_seed_and_split_sizes_name_the_bad_value():
    """The checks of the generated data sets' seeds (integer with low=None) and split sizes (labs 03-05)."""
    assert checks.integer(-3, "seed", "f", low=None) == -3
    for bad in ("3", True, 2.5):
        with pytest.raises(ValueError, match=r"f: seed must be an int(eger)?, got"):
            checks.integer(bad, "seed", "f", low=None)
    assert checks.split_sizes({"b": 0}, {"a": 1, "b": 2}, "f") == {"a": 1, "b": 0}
    assert checks.split_sizes(None, {"a": 1}, "f") == {"a": 1}
    with pytest.raises(ValueError, match=r"unknown split 'c'; allowed: a, b"):
        checks.split_sizes({"c": 1}, {"a": 1, "b": 2}, "f")
    with pytest.raises(ValueError, match=r"sizes\['a'\] must be an int >= 0, got True"):
        checks.split_sizes({"a": True}, {"a": 1}, "f")
