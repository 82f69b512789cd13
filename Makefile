# Patchcast: `make run` and `make test` are all a fresh clone needs (Python 3.11+ and make; the browser suite also Node.js 20+ with npm).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov's pins conflict with requirements-dev.txt: the scan gets a venv of its own
SCAN_STAMP := .venv-scan/.installed
CHROMIUM_STAMP := $(VENV)/.chromium
STAGE ?= dev

.PHONY: run test lint types unit e2e demo bench scale package deploy clean mutate

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

# The portal's sign-in is tested against the certified OpenID provider oidc-provider (Node.js, from npm; the
# version is pinned in tests/e2e/browser/provider.py), installed into the ignored .local/oidc-provider/.
OIDC_STAMP := .local/oidc-provider/node_modules/oidc-provider/lib/index.js
$(OIDC_STAMP): $(STAMP)
	$(BIN)/python -c "from tests.e2e.browser.provider import installed; installed()"

run: $(STAMP)
	$(BIN)/python -m patchcast_tools.local.stack

demo: $(STAMP)
	$(BIN)/python -m patchcast_tools.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy chalicelib infra patchcast_tools bench tests/memory_store.py tests/memory_accounts.py tests/memory_announcements.py tests/domain/world.py \
		tests/domain/host.py tests/domain/logs.py tests/domain/test_virtual_clock.py tests/domain/subscriptions \
		tests/domain/announcements tests/domain/accounts

# Across the cores (pytest-xdist; tests/scheduling.py), in an order shuffled per run (pytest-randomly): the
# summary's last line gives the seed; `make test PYTEST_ARGS=--randomly-seed=N` runs that order again.
TEST_JOBS ?= auto
test: lint types $(SCAN_STAMP) $(CHROMIUM_STAMP) $(OIDC_STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) $(PYTEST_ARGS)

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

# The model of AWS running the real code (docs/delivery.md, "The model of AWS"): make scale [N=1000000] [RATES=14,100,500]
scale: $(STAMP)
	$(BIN)/python -m bench.scale $(if $(N),--n $(N),) $(if $(RATES),--rates $(RATES),) $(if $(ONLY),--only $(ONLY),)

clean:
	rm -rf $(VENV) .venv-scan .local build .pytest_cache .mypy_cache .ruff_cache
