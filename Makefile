# Command 1 runs Bellhop locally; command 2 runs every test.
.PHONY: run test lint

run:
	scripts/run-local

test:
	scripts/test

lint:
	scripts/bootstrap && .venv/bin/ruff check .
