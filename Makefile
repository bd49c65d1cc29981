# The two commands: `make run` (dev server + UI, worker, simulator, demo rollout) and `make test`.
.PHONY: setup run test lint bench bench-judge clean

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

# Rewrites docs/judge-benchmark.md: 24 cells x 1,000 runs (see the figure and the wall time in that file).
bench-judge: setup
	@.venv/bin/python -m bench.judge

clean:
	rm -rf .run .data .build
