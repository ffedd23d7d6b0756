# Command 1 runs Bellhop locally; command 2 runs every test.
.PHONY: run test lint bench

run:
	scripts/run-local

test:
	scripts/test

lint:
	scripts/bootstrap && .venv/bin/ruff check .

# Every benchmark, full sizes, on SQLite and PostgreSQL (about half an hour); prints one table.
bench:
	scripts/bootstrap && .venv/bin/python -m bench.run
