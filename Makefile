# One command to set up and run the demo, one to set up and run the tests (see README.md).
# `make test`: ruff, then mypy (files and settings in pyproject.toml's [tool.mypy]), then pytest.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint zoo report bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/crn2sbml demo

test: $(STAMP)
	$(VENV)/bin/ruff check crn2sbml tests benchmarks validation
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

zoo: $(STAMP)
	$(VENV)/bin/crn2sbml zoo

report: $(STAMP)
	$(VENV)/bin/crn2sbml report

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/run.py
