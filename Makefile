# The two commands of the README, plus helpers. Every target installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ORIGIN_STAMP := .cache/aave-v3-origin-3.6.0/stamp.json
MORPHO_STAMP := .cache/morpho-blue-1.0.0/stamp.json

.PHONY: demo test test-slow lint unit integration reliability bench contracts setup clean

demo: setup
	$(BIN)/keeper demo

# The test command (CI runs exactly this): static checks, then every test but the fault
# scenarios that need more than a minute each (those: `make test-slow`, also run by CI).
test: setup lint
	$(BIN)/pytest -m "not slow_reliability"

test-slow: setup
	$(BIN)/pytest -m slow_reliability

lint: setup
	$(BIN)/ruff check keeper tests bench
	$(BIN)/ruff format --check keeper tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: setup
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

reliability: setup
	$(BIN)/pytest tests/reliability

bench: setup
	$(BIN)/python bench/run.py

# Rebuild contracts_abi/ from contracts/ with the pinned solc (the result is committed).
contracts: node_modules/.installed
	npm run -s build:contracts

setup: $(VENV)/.installed node_modules/.installed $(ORIGIN_STAMP) $(MORPHO_STAMP)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# The distribution was called keeper before it took a free PyPI name: drop it from old venvs.
	$(BIN)/pip uninstall --quiet --yes keeper 2>/dev/null || true
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# `npm ci` cannot be used: the registry has no entries for @foundry-rs/anvil's other-platform
# optional packages, so the lockfile cannot list them; `npm install` keeps the lockfile as is.
node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# Aave v3.6 (BUSL-1.1 source from @aave-dao/aave-v3-origin) compiled at install time into the
# git-ignored .cache/; never committed. The script is a no-op when its inputs are unchanged
# (~20 s cold with solc-js 0.8.27 on this project's 2-core machine).
$(ORIGIN_STAMP): node_modules/.installed contracts/build_aave_origin.js
	node contracts/build_aave_origin.js
	touch $@

# Morpho Blue 1.0.0 (BUSL-1.1 source from @morpho-org/morpho-blue, the deployed v1.0.0) and its
# mocks compiled at install time into the git-ignored .cache/, never committed; a no-op when
# its inputs are unchanged (~25 s cold with solc-js 0.8.19, via-IR).
$(MORPHO_STAMP): node_modules/.installed contracts/build_morpho_blue.js
	node contracts/build_morpho_blue.js
	touch $@

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .cache/aave-v3-origin-* .cache/morpho-blue-*
