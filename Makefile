# Two commands for a fresh clone: `make run` and `make test` (Python 3.11 and make are enough).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 0.0.0.0
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run web worker beat test test-fast lint format bench venv migrate superuser sandbox-server clean help

help:
	@echo "make run      - install, migrate and serve on http://localhost:$(PORT) with a Celery worker + beat (sandbox mode, no credentials)"
	@echo "make web      - the development server only (no worker)"
	@echo "make worker   - a Celery worker (production: see Procfile)"
	@echo "make beat     - Celery beat, the scheduler (one per deployment)"
	@echo "make test     - run the whole test suite (SQLite unless DATABASE_URL is set)"
	@echo "make lint     - ruff check + format check"
	@echo "make bench    - status-check benchmarks (see docs/performance.md)"

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

.env:
	cp .env.example .env
	@echo "Created .env from .env.example (DEBUG=True, sandbox providers and payments)."

migrate: $(STAMP) .env
	$(PY) manage.py migrate --noinput

# The web server and a Celery worker with embedded beat, stopped together on Ctrl-C; without a broker
# setting they talk through files in var/celery/ (docs/background.md).
run: migrate
	$(PY) scripts/run_dev.py --host $(HOST) --port $(PORT)

web: migrate
	$(PY) manage.py runserver $(HOST):$(PORT)

worker: migrate
	$(VENV)/bin/celery -A esim_status_checker worker --loglevel INFO

beat: migrate
	$(VENV)/bin/celery -A esim_status_checker beat --loglevel INFO

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) scripts/check_secrets.py

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

superuser: migrate
	$(PY) manage.py createsuperuser

sandbox-server: $(STAMP)
	$(PY) -m providers.sandbox --port 8765 --latency-ms 100

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache var/celery
