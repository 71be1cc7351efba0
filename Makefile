# The two commands of the README: `make up` (install, then serve) and `make test` (install, then the suite).
# Everything installs into ./.venv; the llama.cpp bindings are built once per machine and reused.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.blacksoil-installed

.PHONY: up test install lint bench clean

up: install
	$(BIN)/blacksoil up

test: install lint
	$(BIN)/pytest

install: $(STAMP)

$(STAMP): pyproject.toml scripts/build-engine.sh scripts/install-services.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	bash scripts/install-services.sh
	bash scripts/build-engine.sh $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[embedded,dev]'
	@touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/embedded_engine.py
	test -x .venv-bench/bin/litellm || ($(PYTHON) -m venv .venv-bench && \
	  .venv-bench/bin/pip install -q 'litellm[proxy]==1.106.*' uvloop)
	$(BIN)/python benchmarks/gateway_overhead.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
