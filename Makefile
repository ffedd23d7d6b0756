# Command 1 runs Bellhop locally; command 2 runs every test.
.PHONY: run test test-fast lint lock bench soak

run:
	scripts/run-local

# Every test, in two phases. First all but the timing tests, in 4 processes: most tests wait on the clock or
# on real processes, so 4 beat 2 even on 2 cores; each process starts its own servers, and a module that
# shares an expensive server or run (RabbitMQ, Chromium, a database's benchmark smoke) stays on one process.
# Then the tests that assert how soon something happens (marked timing), one at a time, so a busy
# neighbour cannot make a reminder late. Both phases always run; the slowest tests are listed at the end.
test:
	scripts/test -n 4 --dist loadgroup -m "not timing" --durations=20; first=$$?; \
	scripts/test -m timing --durations=10; second=$$?; \
	exit $$(( first || second ))

# The developer's loop: everything but the tests marked slow (long fault and soak-size tests).
test-fast:
	scripts/test -m "not slow" -n 4 --dist loadgroup

# ruff's linter, then its formatter in check mode (a file it would reformat fails the target), then whether
# each dependency lock is current with its input file.
lint:
	scripts/bootstrap && .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/python scripts/locks.py check

# Regenerate requirements.txt, requirements-local.txt and requirements-dev.txt from their .in files, keeping
# the current pins where they still fit; `make lock ARGS=--upgrade` takes new releases.
lock:
	scripts/bootstrap && .venv/bin/python scripts/locks.py compile $(ARGS)

# Every benchmark, full sizes, on SQLite and PostgreSQL (about half an hour); prints one table.
bench:
	scripts/bootstrap && .venv/bin/python -m bench.run

# Ten minutes at 200 events/s with five dashboards polling, then a count reconciliation and memory check.
soak:
	scripts/bootstrap && .venv/bin/python -m bench.soak --json var/soak.json
