"""``python -m coursetools build | grade | list`` (see the package docstring and book/instructors.md)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .build import build
from .grade import grade
from .markup import AssignmentError, exercises, lab_paths, read


def _list(labs_dir: str, names: Sequence[str]) -> None:
    for path in lab_paths(Path(labs_dir), names):
        found = exercises(read(path, "lab"), str(path))
        print(f"{path.stem}: {sum(e.points for e in found):g} points")
        for e in found:
            print(f"  {e.exercise:<28} {e.points:>4g}  hint: {e.hint or '-'}")
            print(f"  {'':<28} {'':>4}  not allowed: {', '.join(e.forbidden) or '- (no entry in FORBIDDEN)'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursetools", description="The course's labs as graded assignments.")
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
