# Diming: two commands on a fresh Debian/Ubuntu machine — `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: run test setup setup-test lint unit bench down clean-db

run: setup ## set everything up and serve the Feidong demo (DIMING_PORT changes the port)
	@$(VENV)/diming info
	$(VENV)/diming serve

setup:
	scripts/setup.sh

setup-test:
	WITH_BROWSER=1 scripts/setup.sh

test: setup-test ## the same set-up, then lint, types and the whole suite against a real PostGIS
	$(VENV)/ruff check gis_api tests scripts migrations
	$(VENV)/mypy gis_api
	$(VENV)/pytest -q

unit:
	$(VENV)/pytest -q tests/unit

down:
	$(VENV)/diming db down
