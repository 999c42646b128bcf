"""Print a pip constraints file of the lowest versions pyproject.toml allows.

Used by `make test-min`: the lowest version of every runtime dependency gets the
same tests as our pinned set-up, so that the ranges lablib publishes are true.

    python scripts/min_constraints.py [--pyproject FILE] [--except NAME ...]

Each dependency must have an inclusive lower bound (`>=`, `==` or `~=`); one
without (`foo`, `foo<2`, `foo>1`) stops the script with an error naming it, since
its lowest allowed version cannot be installed or does not exist.
`--except torch` leaves a dependency out (the Makefile pins torch itself: the
lowest torch allowed has no CPU build on this machine). Standard library only,
so that the machine's bare Python runs it before any environment exists.
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*$")
_SPECIFIER = re.compile(r"^(~=|==|!=|<=|>=|<|>|===)\s*([^\s]+)$")


def canonical(name: str) -> str:
    """The normalised project name (PEP 503): lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lowest_version(requirement: str) -> tuple[str, str]:
    """(name, lowest allowed version) of one PEP 508 requirement string.

    >>> lowest_version("transformers>=5.0,<6")
    ('transformers', '5.0')
    """
    if not isinstance(requirement, str):
        raise TypeError(f"a requirement must be a string, got {type(requirement).__name__}: {requirement!r}")
    text = requirement.split(";", 1)[0]  # environment markers do not change the bound
    match = _REQUIREMENT.match(text)
    if not match or "@" in text:
        raise ValueError(f"cannot read the requirement {requirement!r}: expected 'name>=version[,...]'")
    name, _extras, specifiers = match.groups()
    lowest = None
    for part in filter(None, (p.strip() for p in specifiers.split(","))):
        spec = _SPECIFIER.match(part)
        if not spec:
            raise ValueError(f"cannot read the version specifier {part!r} in {requirement!r}")
        operator, version = spec.groups()
        if operator in ("==", "===") and "*" in version:
            raise ValueError(f"{requirement!r}: a wildcard pin ({part}) has no single lowest version")
        if operator in (">=", "==", "===", "~="):
            if lowest is not None:
                raise ValueError(f"{requirement!r} has more than one lower bound ({lowest} and {version})")
            lowest = version
    if lowest is None:
        raise ValueError(
            f"{requirement!r} has no inclusive lower bound (>=, == or ~=), so its lowest allowed "
            f"version is not a version one can install; give it one in pyproject.toml"
        )
    return name, lowest


def min_constraints(pyproject: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """'name==lowest' for every runtime dependency in `pyproject`, except those in `skip`."""
    pyproject = Path(pyproject)
    if not pyproject.is_file():
        raise FileNotFoundError(f"no pyproject.toml at {pyproject}")
    project = tomllib.loads(pyproject.read_text()).get("project")
    if not isinstance(project, dict) or not isinstance(project.get("dependencies"), list):
        raise ValueError(f"{pyproject} has no [project] dependencies list")
    skipped = {canonical(name) for name in skip}
    lines = []
    for requirement in project["dependencies"]:
        name, version = lowest_version(requirement)
        if canonical(name) not in skipped:
            lines.append(f"{name}=={version}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--except", dest="skip", action="append", default=[], metavar="NAME",
                        help="leave this dependency out (repeatable)")
    args = parser.parse_args(argv)
    try:
        lines = min_constraints(args.pyproject, tuple(args.skip))
    except (ValueError, FileNotFoundError) as error:
        print(f"min_constraints.py: {error}", file=sys.stderr)
        return 1
    header = [
        f"# The lowest versions {args.pyproject.name} allows (written by scripts/min_constraints.py).",
    ]
    if args.skip:
        header.append(f"# Left out here, pinned elsewhere: {', '.join(args.skip)}.")
    sys.stdout.write("\n".join(header + lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
