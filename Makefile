# Patchcast: `make run` and `make test` are all a fresh clone needs (Python 3.11+ and make).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov's pins conflict with requirements-dev.txt: the scan gets a venv of its own
SCAN_STAMP := .venv-scan/.installed
CHROMIUM_STAMP := $(VENV)/.chromium
STAGE ?= dev

.PHONY: run test lint types unit e2e demo bench package deploy clean mutate

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

$(SCAN_STAMP): requirements-scan.txt
	@test -x .venv-scan/bin/python || $(PYTHON) -m venv .venv-scan
	.venv-scan/bin/python -m pip install --quiet -r requirements-scan.txt
	@touch $(SCAN_STAMP)

# The browser tests drive Debian's Chromium (Playwright's own builds cannot be downloaded here); CI runs as root.
$(CHROMIUM_STAMP): $(STAMP)
	@test -x /usr/bin/chromium || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
		|| (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)
	@touch $(CHROMIUM_STAMP)

run: $(STAMP)
	$(BIN)/python -m patchcast_tools.local.stack

demo: $(STAMP)
	$(BIN)/python -m patchcast_tools.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy chalicelib infra patchcast_tools bench tests/memory_store.py

test: lint types $(SCAN_STAMP) $(CHROMIUM_STAMP)
	$(BIN)/python -m pytest -q

# Mutation testing (docs/contributing.md), not part of `make test`: mutmut over the domain packages named
# (every one by default; `MUTATE=downloads` one package, `MUTATE=delivery.send` one module), each mutant
# against the tests of its package's scope (tests/mutation_scope.py) that call what it mutated.
MUTATE ?= access accounts announcements core delivery digests downloads fanout mail releases reports subscriptions
MUTATE_JOBS ?= 2
mutate: $(STAMP)
	MUTATE="$(MUTATE)" $(BIN)/mutmut run --max-children $(MUTATE_JOBS) $(foreach m,$(MUTATE),"chalicelib.domain.$(m).*")
	$(BIN)/python -m patchcast_tools.mutation_report $(MUTATE)

# One CloudFormation template for the stage in build/$(STAGE)/ (docs/deploy.md); no AWS calls.
package: $(STAMP)
	$(BIN)/python -m infra.package $(STAGE)

# Needs AWS credentials: make deploy STAGE=prod SENDER=alerts@example.com SES_DOMAIN=example.com [ALARM_EMAIL=…]
deploy: package
	STAGE=$(STAGE) AWS=$(BIN)/aws infra/deploy.sh

bench: $(STAMP)
	$(BIN)/python -m bench.run $(if $(N),--n $(N),)

clean:
	rm -rf $(VENV) .venv-scan .local build .pytest_cache .mypy_cache .ruff_cache
