# The two commands: `make run` (dev server + UI, worker, simulator, demo rollout) and `make test`.
.PHONY: setup run test lint bench clean

setup:
	@bash scripts/setup.sh

run: setup
	@bash scripts/run.sh

test: setup
	@.venv/bin/python -m pytest $(PYTEST_ARGS)

lint: setup
	@.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

bench: setup
	@.venv/bin/python -m bench.abort_latency

clean:
	rm -rf .run .data
