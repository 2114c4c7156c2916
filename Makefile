# Multimodal Deep Learning course — one-command set-up, lab and tests.
#   make lab    create .venv if missing, install the pinned set + course_utils, start JupyterLab
#   make test   the same set-up, then the whole test suite (what CI runs)
# Both are idempotent: a second run skips the install (it re-runs only when
# requirements/lock.txt or pyproject.toml changed).

PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.course-installed
LAB_IP   ?= 127.0.0.1
LAB_PORT ?= 8888
# LAB_TOKEN: the login token of `make lab`; a fresh random one per start when empty.
LAB_TOKEN ?=
WORKSPACE := my-notebooks
ROOTFLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
# The test run sets every variable it depends on, whatever your shell exports:
# PYTHONWARNINGS=default shows each warning once (as many learners' setups do), so a
# lesson that emits a warning in a checked cell fails in CI rather than on their machine.
TEST_ENV := COURSE_FAST=1 COURSE_HEADLESS=1 MPLBACKEND=Agg PYTHONWARNINGS=default KERAS_BACKEND=tensorflow
NBVAL    := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg --nbval-cell-timeout=900 -p no:cacheprovider

.PHONY: help install lab test unit nbval check-notebooks notebooks execute grade dataset system-deps browser-deps bench env clean

help:
	@echo "make lab          set up (first time ~3 min, ~3.5 GB) and start JupyterLab on lesson 00"
	@echo "                  (your working copy: $(WORKSPACE)/, git-ignored; LAB_PORT, LAB_IP, LAB_TOKEN)"
	@echo "make test         set up and run the whole test suite (unit + grader + nbval)"
	@echo "make notebooks    regenerate notebooks/ (student versions) from solutions/"
	@echo "make execute      re-run solutions/ in place (full mode) to refresh saved outputs"
	@echo "make grade SUBMISSIONS=dir LESSON=NN   batch-grade a folder of submissions"
	@echo "make dataset      regenerate datasets/sentiment (needs espeak-ng: make system-deps)"
	@echo "make system-deps  apt-get install the system packages (espeak-ng; bubblewrap for the grader's sandbox)"
	@echo "make browser-deps Chromium + playwright-core for tests/test_browser.py (CI installs them itself)"
	@echo "make bench        performance benchmarks"
	@echo "make env          print the environment report (paste it into bug reports)"

install: $(STAMP)

$(STAMP): requirements/lock.txt requirements/nodeps.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is needed, this is " + sys.version.split()[0]' \
	  || { echo "Set PYTHON=/path/to/python3.10+ (e.g. make lab PYTHON=python3.11)"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23.2"
	$(PY) -m pip install --quiet -r requirements/lock.txt
	$(PY) -m pip install --quiet --no-deps -r requirements/nodeps.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

# JupyterLab opens your personal working copy $(WORKSPACE)/ (git-ignored): lessons missing there are
# copied from notebooks/, files already there are never overwritten, so `git pull` never conflicts
# with your edits. The printed URL carries the login token and opens lesson 00.
lab: install
	@$(PY) -m course_utils.paths sync
	@TOKEN="$(LAB_TOKEN)"; [ -n "$$TOKEN" ] || TOKEN=$$($(PY) -c 'import secrets; print(secrets.token_hex(24))'); \
	  URL=$$($(PY) -m course_utils.paths url --ip "$(LAB_IP)" --port "$(LAB_PORT)" --token "$$TOKEN"); \
	  echo ""; echo "  Open lesson 00 in your browser:  $$URL"; \
	  echo "  (token and port: see README, 'Working in the lessons'; stop with Ctrl-C)"; echo ""; \
	  JUPYTER_TOKEN="$$TOKEN" exec $(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
	    --ip=$(LAB_IP) --port=$(LAB_PORT) --ServerApp.port_retries=0 $(ROOTFLAG) \
	    --ServerApp.default_url=/lab/tree/$(WORKSPACE)/00_setup.ipynb

test: install
	$(PY) -m course_utils.authoring check
	$(PY) -c "import course_utils.env as e; e.configure_caches(); import numpy as np, librosa; librosa.feature.mfcc(y=np.zeros(16000, dtype=np.float32), sr=16000)"  # warm numba's cache (where lessons look) once
	$(TEST_ENV) $(PY) -m pytest tests -p no:cacheprovider --durations=8
	$(TEST_ENV) $(PY) -m pytest $(NBVAL) solutions/

unit: install
	$(TEST_ENV) $(PY) -m pytest tests -p no:cacheprovider --durations=8

nbval: install
	$(TEST_ENV) $(PY) -m pytest $(NBVAL) solutions/

check-notebooks: install
	$(PY) -m course_utils.authoring check

notebooks: install
	$(PY) -m course_utils.authoring build

# Re-run solutions in full mode so their saved outputs (figures, numbers) are current.
# MPLBACKEND is unset so figures are saved inline whatever your shell exports (setup() also restores it).
execute: install
	for nb in solutions/[0-9][0-9]_*.ipynb; do \
	  env -u MPLBACKEND -u COURSE_FAST -u KERAS_BACKEND COURSE_HEADLESS=1 $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=1200 --ExecutePreprocessor.record_timing=False "$$nb" || exit 1; done
	$(PY) -m course_utils.authoring build

SUBMISSIONS ?= submissions
LESSON ?= 00
grade: install
	$(PY) -m course_utils.grade $(SUBMISSIONS) --lesson $(LESSON) --out grades.csv

dataset: install
	$(PY) -m course_utils.data.generate --out datasets/sentiment

system-deps:
	@need=""; command -v espeak-ng >/dev/null 2>&1 && echo "espeak-ng already installed" || need="$$need espeak-ng"; \
	command -v bwrap >/dev/null 2>&1 && echo "bubblewrap already installed" || need="$$need bubblewrap"; \
	if [ -z "$$need" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$need; \
	else echo "No apt-get here: install$$need with your package manager (brew install espeak-ng, dnf install bubblewrap, ...)"; exit 1; fi

browser-deps:
	.ci/run --install-only

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) "$$b" || exit 1; done

env: install
	$(PY) -m course_utils.env

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
