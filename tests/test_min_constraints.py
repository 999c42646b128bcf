"""scripts/min_constraints.py: the lowest versions pyproject.toml allows (make test-min)."""
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("min_constraints", ROOT / "scripts" / "min_constraints.py")
min_constraints = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(min_constraints)


@pytest.mark.parametrize("requirement, expected", [
    ("transformers>=5.0,<6", ("transformers", "5.0")),
    ("numpy >= 2.0", ("numpy", "2.0")),
    ("ipywidgets>=7.7,<9", ("ipywidgets", "7.7")),
    ("seqeval==1.2.2", ("seqeval", "1.2.2")),
    ("foo~=1.4.2", ("foo", "1.4.2")),
    ("foo[bar]>=3,!=3.1", ("foo", "3")),
    ("foo<3,>=2.1", ("foo", "2.1")),
    ("tomli>=1.1; python_version < '3.11'", ("tomli", "1.1")),
])
def test_lowest_version_reads_the_inclusive_lower_bound(requirement, expected):
    assert min_constraints.lowest_version(requirement) == expected


@pytest.mark.parametrize("requirement, words", [
    ("foo", ["'foo'", "no inclusive lower bound"]),
    ("foo<2", ["'foo<2'", "no inclusive lower bound"]),
    ("foo>1", ["'foo>1'", "no inclusive lower bound"]),
    ("foo>=1,>=2", ["more than one lower bound"]),
    ("foo==1.*", ["wildcard"]),
    ("foo @ https://example.org/foo.whl", ["cannot read the requirement"]),
    ("foo>=1,bar", ["cannot read the version specifier 'bar'"]),
])
def test_a_requirement_without_an_installable_minimum_is_named(requirement, words):
    with pytest.raises(ValueError) as error:
        min_constraints.lowest_version(requirement)
    for word in words:
        assert word in str(error.value)


def test_non_string_requirement_is_a_type_error():
    with pytest.raises(TypeError, match="must be a string"):
        min_constraints.lowest_version(["numpy>=2"])


def test_the_real_pyproject_gives_one_exact_pin_per_dependency():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = min_constraints.min_constraints(ROOT / "pyproject.toml", skip=("torch",))
    names = [min_constraints.canonical(line.split("==")[0]) for line in lines]
    assert "torch" not in names
    assert len(lines) == len(dependencies) - 1
    for requirement, line in zip([d for d in dependencies if not d.startswith("torch")], lines):
        name, version = line.split("==")
        assert requirement.startswith(name) and version in requirement, (requirement, line)


def test_skip_matches_normalised_names(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["Scikit_Learn>=1.4.2", "numpy>=2.0"]\n')
    assert min_constraints.min_constraints(pyproject, skip=("scikit-learn",)) == ["numpy==2.0"]


def test_missing_file_or_dependencies_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="no pyproject.toml at"):
        min_constraints.min_constraints(tmp_path / "absent.toml")
    empty = tmp_path / "pyproject.toml"
    empty.write_text('[project]\nname = "x"\n')
    with pytest.raises(ValueError, match="no \\[project\\] dependencies"):
        min_constraints.min_constraints(empty)


def test_command_line_prints_a_constraints_file_and_fails_clearly(tmp_path):
    script = [sys.executable, str(ROOT / "scripts" / "min_constraints.py")]
    done = subprocess.run(script + ["--except", "torch"], capture_output=True, text=True, check=True)
    pins = [line for line in done.stdout.splitlines() if line and not line.startswith("#")]
    assert pins and all("==" in line for line in pins) and not any(line.startswith("torch") for line in pins)

    bad = tmp_path / "pyproject.toml"
    bad.write_text('[project]\nname = "x"\ndependencies = ["numpy<3"]\n')
    done = subprocess.run(script + ["--pyproject", str(bad)], capture_output=True, text=True)
    assert done.returncode == 1 and "'numpy<3' has no inclusive lower bound" in done.stderr
