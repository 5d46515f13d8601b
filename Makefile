# The two commands of the README: `make run` and `make test`.
# Both create .venv/ from the hashed lock file and reuse it while the lock is unchanged.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-lock
# The suite on every core (pytest-xdist; at most six workers, each with its own database and
# Redis databases: tests/xdist_services.py); PYTEST_ARGS= runs it in one process.
PYTEST_ARGS ?= -n auto --maxprocesses 6 --dist loadgroup --durations 25

.PHONY: run test smoke setup lock migrate check clean mutation

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	@touch $@

setup: $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py seed_demo --if-empty
	@echo "API token for the demo partner (Authorization: Token <key>; expires in 7 days):"
	@$(PY) manage.py issue_token partner --days 7 2>/dev/null
	bin/run-local

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

# The docker-compose services' own commands on this host, against PostgreSQL and Redis
# (bin/smoke: its own database rehab_smoke, created and dropped; Redis database 8).
smoke: $(STAMP)
	$(PY) bin/smoke

# Mutation testing of the modules that guard people and messages (README, "Mutation testing").
# Slow and not part of `make test`: one module at a time, e.g. `make mutation MODULES=selectors`.
MODULES ?=
mutation: $(STAMP)
	$(PY) mutation/run.py $(MODULES)

check: $(STAMP)
	$(PY) manage.py check

# Re-pin every dependency (needs pip-tools) after changing pyproject.toml.
lock:
	$(PY) -m pip install --quiet pip-tools
	$(PY) -m piptools compile --quiet --extra dev --generate-hashes --strip-extras -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) var
