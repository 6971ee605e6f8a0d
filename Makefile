# Diming: two commands on a fresh Debian/Ubuntu machine — `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: run test setup setup-test lint unit bench down clean-db manuals

run: setup ## set everything up and serve the Feidong demo (DIMING_PORT changes the port)
	@$(VENV)/diming info
	$(VENV)/diming serve

setup:
	scripts/setup.sh

setup-test:
	WITH_BROWSER=1 scripts/setup.sh

test: setup-test ## the same set-up, then lint, types and the whole suite against a real PostGIS
	$(VENV)/ruff check gis_api tests scripts migrations
	$(VENV)/mypy gis_api scripts/bench tests
	$(VENV)/pytest -q

manuals: setup-test ## regenerate the user manuals' screenshots (docs/manuals/img) by the browser tour
	rm -f docs/manuals/img/*.png
	DIMING_MANUAL_SCREENSHOTS=1 $(VENV)/pytest -q tests/browser/test_manual_screenshots.py
	$(VENV)/pytest -q tests/unit/test_manuals.py

unit:
	$(VENV)/pytest -q tests/unit

down:
	$(VENV)/diming db down
