"""lablib.grading: checks pass quietly and fail with a specific message."""
import numpy as np
import pytest
import torch

from lablib.grading import CheckFailed, check_cases, check_close, check_shape, check_true


def test_check_close_passes_and_says_so(capsys):
    check_close("softmax", torch.tensor([0.5, 0.5]), np.array([0.5, 0.5]))
    assert "[pass] softmax" in capsys.readouterr().out


def test_check_close_names_the_worst_element():
    with pytest.raises(CheckFailed, match=r"index \(1,\): yours 3, expected 2 .* 1 of 3 values are off"):
        check_close("grad", [1.0, 3.0, 5.0], [1.0, 2.0, 5.0])


def test_check_close_explains_shape_none_and_nan():
    with pytest.raises(CheckFailed, match=r"shape \(2,\), expected \(3,\)"):
        check_close("x", [1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(CheckFailed, match="forget to `return`"):
        check_close("x", None, [1.0])
    with pytest.raises(CheckFailed, match=r"non-finite value \(nan\) at index \(0,\)$"):
        check_close("x", [float("nan"), 1.0], [1.0, 1.0])
    with pytest.raises(CheckFailed, match="not numeric"):
        check_close("x", "abc", [1.0])


def test_check_failed_is_an_assertion_error():
    assert issubclass(CheckFailed, AssertionError)


def test_check_shape_and_check_true(capsys):
    check_shape("logits", torch.zeros(2, 3), (2, 3))
    with pytest.raises(CheckFailed, match=r"expected shape \(3, 2\), got \(2, 3\)"):
        check_shape("logits", torch.zeros(2, 3), (3, 2))
    with pytest.raises(CheckFailed, match="expected a tensor/array"):
        check_shape("logits", [1, 2], (2,))
    check_true("positive", True, "must be positive")
    with pytest.raises(CheckFailed, match="loss: must decrease"):
        check_true("loss", False, "must decrease")
    assert capsys.readouterr().out.count("[pass]") == 2


def test_check_cases_names_the_failing_case_and_reports_crashes(capsys):
    cases = {"positive": (torch.tensor([1.0, 2.0]),), "negative": (torch.tensor([-1.0, -2.0]),)}
    check_cases("abs", lambda x: x.abs(), torch.abs, cases)
    assert "[pass] abs: all 2 cases" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match=r"identity, case 'negative': not close enough at index \(1,\): yours -2, expected 2"):
        check_cases("identity", lambda x: x, torch.abs, cases)
    with pytest.raises(CheckFailed, match=r"case 'positive': your function raised ZeroDivisionError"):
        check_cases("crash", lambda x: 1 / 0, torch.abs, cases)
    with pytest.raises(ValueError, match="at least one case"):
        check_cases("none", torch.abs, torch.abs, {})
