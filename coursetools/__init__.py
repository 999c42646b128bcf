"""coursetools: the course's labs as graded assignments (instructor tooling; book/instructors.md).

Not part of the student package ``lablib``, and no lab imports it. Installed
with the ``assign`` extra (``pip install -e ".[assign]"``), which brings nbgrader.

* :mod:`coursetools.markup` -- the exercise markup in a lab (nbgrader's), read and validated
* :mod:`coursetools.forbidden` -- references a solution may not use: the table, a static check, a run-time guard
* :mod:`coursetools.build` -- student notebooks (nbgrader's preprocessors) and autograder bundles
* :mod:`coursetools.run` -- running a submission with a time limit per cell, a fresh kernel when needed
* :mod:`coursetools.grade` -- grading a folder of submissions (nbgrader's OverwriteCells): scores, totals, feedback

Command line (``make assignments``, ``make grade``)::

    python -m coursetools build [--labs labs] [--out assignments] [LAB ...]
    python -m coursetools grade SUBMISSIONS --out GRADES [--autograder assignments/autograder] [--exercises-only]
    python -m coursetools list [--labs labs]
"""
