# The menu of what a newcomer can do. Every target installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
# The lock file's tool, itself pinned (it comes from PyPI into the venv).
UV_VERSION ?= 0.13.9
# DVC stage commands say `python ...`: they must find the project's interpreter first.
export PATH := $(abspath $(BIN)):$(PATH)

# A smaller or larger synthetic set for this build: `make pipeline N_CLIENTS=2000` runs
# `dvc exp run -S conf/data/synthetic.yaml:n_clients=2000`, so the size lands in the
# params file DVC tracks and dvc.lock, `dvc exp show` and `git diff` say what data/raw
# holds; it stays set there (`git checkout conf/data/synthetic.yaml` for the default).
# It sizes the `synthetic` group only. (The Kaggle files: `data: kaggle` in
# conf/config.yaml's defaults, then plain `make pipeline`: see README, Data.)
N_CLIENTS ?=
ifdef DATA
$(error DATA= is gone: choose the data group in conf/config.yaml's defaults (data: kaggle), which DVC tracks)
endif
SET_PARAMS := $(if $(N_CLIENTS),-S conf/data/synthetic.yaml:n_clients=$(N_CLIENTS),)
DVC_RUN := $(if $(SET_PARAMS),$(BIN)/dvc exp run $(SET_PARAMS),$(BIN)/dvc repro)
PYTEST_ARGS ?=

.PHONY: help install lock system-deps data pipeline run serve test test-fast lint format bench mlflow-ui clean

help: ## Show this menu
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-10s %s\n", $$1, $$2}'

ifdef NO_INSTALL
# The caller brings a ready environment (VENV=...): never reinstall into it from here.
$(STAMP): ;
else
# The exact versions of uv.lock (every platform, Python >= 3.11), the project editable.
# --locked refuses a lock that no longer matches pyproject.toml: run `make lock`.
# --inexact keeps uv itself, which pip bootstrapped into the venv.
# --compile-bytecode writes every package's .pyc now: a shell with PYTHONDONTWRITEBYTECODE
# set never caches them, and each stage then recompiled ~3,000 modules on start (~10 s of
# the register stage on the 2-core machine).
$(STAMP): pyproject.toml uv.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'
	UV_PROJECT_ENVIRONMENT=$(abspath $(VENV)) $(BIN)/uv sync --locked --inexact --compile-bytecode --extra dev --quiet
	touch $(STAMP)
endif

install: $(STAMP) ## Create .venv and install the locked versions (uv.lock) with the dev extra

lock: ## Re-resolve uv.lock after a dependency change in pyproject.toml (then commit it)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'
	$(BIN)/uv lock

# Debian packages the slow tests and the servers use, as `check-path:package` pairs: a
# package is installed (as root, with apt) only when its file is absent. Java runs Spark,
# Chromium the browser tests, PostgreSQL the database tests.
SYSTEM_DEPS ?= /usr/bin/java:openjdk-17-jre-headless /usr/bin/chromium:chromium \
	/usr/bin/pg_ctlcluster:postgresql
system-deps: ## Install the Debian packages the slow tests need (root, apt; only the missing ones)
	@missing=""; for dep in $(SYSTEM_DEPS); do \
	  test -e "$${dep%%:*}" || missing="$$missing $${dep#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run make system-deps as root)"; exit 1; fi; \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

data: $(STAMP) ## Materialize the configured raw data set in data/raw (the generate stage)
	$(DVC_RUN) generate

pipeline: $(STAMP) ## Run every DVC stage, the data first (dvc repro)
	$(DVC_RUN)

run: pipeline ## make pipeline, then serve the models and the API until Ctrl-C
	@if [ -f pipelines/serve.py ]; then $(MAKE) --no-print-directory serve; else echo "pipeline done; serving is not part of this build yet"; fi

serve: $(STAMP) ## Start both model servers and the API in the foreground (Ctrl-C stops all)
	$(PY) pipelines/serve.py

test: $(STAMP) system-deps ## Run the whole test suite
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## Run the fast tests only (no DVC, servers or full pipeline)
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## Run the benchmarks (minutes; prints tables to compare with README)
	$(PY) -m benchmarks

# The local store by default; MLFLOW_TRACKING_URI (a database URL) wins, as in every stage.
MLFLOW_TRACKING_URI ?= sqlite:///mlflow.db
MLFLOW_UI_PORT ?= 5000

mlflow-ui: $(STAMP) ## MLflow UI on the tracking store at http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri $(MLFLOW_TRACKING_URI) --host 127.0.0.1 --port $(MLFLOW_UI_PORT)

clean: ## Remove derived data, models and the local MLflow store (keeps data/raw, the oracle and .venv)
	rm -rf data/ingested data/features data/serving mlflow.db mlruns multirun
