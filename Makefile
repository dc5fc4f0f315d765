# Async Highways: `make lab` to learn, `make test` to check everything.
PYTHON ?= python3
# Another interpreter gets a venv of its own: make test-core PYTHON=python3.13 VENV=.venv-3.13
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8888

.PHONY: lab notebook trust install install-test test test-core lint bench notebooks slurm-demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps re-run the install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# JupyterLab refuses to run as root (containers, CI boxes) unless told it is meant.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# The course's own notebooks, the learner's (notebooks/) and the teacher's (solutions/):
# their committed outputs (the glossary's <style>, the charts' HTML) render as saved
# only once they are trusted.
COURSE_NOTEBOOKS := $(wildcard notebooks/*.ipynb solutions/*.ipynb)

## trust: mark the course notebooks trusted (make lab and make notebook do it first)
trust: install
	$(BIN)/jupyter trust $(COURSE_NOTEBOOKS)

## lab: set up, trust the notebooks and open the course in JupyterLab (the learner's
## folder, notebooks/, only: the teacher's solutions/ stay out of its file browser)
lab: trust
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --port=$(PORT) $(ALLOW_ROOT)

## notebook: the same, in Jupyter Notebook 7 (one notebook a tab)
notebook: trust
	$(BIN)/jupyter notebook --ServerApp.root_dir=notebooks --port=$(PORT) $(ALLOW_ROOT)

## lint: ruff (with the ASYNC rules), mypy --strict on citylib, and the import contracts
lint: install-test
	$(BIN)/ruff check citylib tests benchmarks examples scripts solutions
	$(BIN)/mypy
	$(BIN)/lint-imports

# The unit, server and grader tests run on JOBS workers (pytest-xdist), three by default
# on this machine's 2 cores: most of the suite waits (real clocks, servers, kernels,
# the grader's sandboxes), so a third worker's waiting overlaps the others' computing.
# Each module runs whole on one worker (--dist loadfile, so module fixtures are built
# once; loadgroup would honour xdist_group marks, but pytest-xdist ignores them under
# pytest 9.2, #1386), handed out in collection order (tests/conftest.py puts the longest
# first). The races of threads on the real clock run at 2x or 4x real time, where a
# thread woken late by a busy core could eat their margin. JOBS=1 is a plain serial run (use it
# on a machine busy with other work). nbval is for the notebook runs: loading its plugin
# costs each process 3 s (nbformat's jsonschema, jupyter_client).
JOBS ?= 3
UNIT_TESTS := $(BIN)/python -m pytest tests --ignore=tests/browser -p no:nbval \
	$(if $(filter-out 1,$(JOBS)),-n $(JOBS) --dist loadfile --no-loadscope-reorder,)
NOTEBOOK_TESTS := $(BIN)/python -m pytest notebooks solutions --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg

## test: lint, then every test: unit, server, grader, notebooks (nbval), browser
test: lint
	$(UNIT_TESTS)
	$(NOTEBOOK_TESTS) tests/browser

## test-core: every test but the browser ones (CI runs it under a newer Python too)
test-core: install-test
	$(UNIT_TESTS)
	$(NOTEBOOK_TESTS)

## bench: performance goals against their baselines (writes benchmarks/results.json)
bench: install-test
	$(BIN)/python -m benchmarks

## notebooks: every notebook from its one source, then each run from a clean kernel:
## examples/*.py into the cells that show them, the learner's notebooks/NAME.ipynb into
## the teacher's solutions/NAME.ipynb (tests/solution_notebooks.py says how)
notebooks: install-test
	$(BIN)/python tests/solution_notebooks.py
	for nb in notebooks/*.ipynb solutions/*.ipynb; do \
		CITYLIB_SPEED=10 $(BIN)/jupyter nbconvert --to notebook --execute --inplace $$nb \
			|| exit 1; \
	done

## slurm-demo: (as root) start a single-node Slurm here (installing Debian's slurm-wlm and
## munge if missing), grade tests/submissions as the README's array job and merge it, grade
## it again in one run, compare check for check, stop Slurm; COPIES=10 for a larger class
slurm-demo: install
	scripts/slurm-demo.sh slurm-demo

clean:
	rm -rf .venv .venv-* .pytest_cache .mypy_cache .ruff_cache test-artifacts slurm-demo
