# The two commands: `make run` (dev server + UI, worker, simulator, demo rollout) and `make test`.
.PHONY: setup run test lint bench bench-judge bench-judge-ab-watch cluster clean

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

# Rewrites docs/judge-benchmark.md whole: every cell x 1,000 runs, ADR 13's and issue 19's judges (wall time and
# load average in that file; `python -m bench.judge --runs 100` for a tenth of it).
bench-judge: setup
	@.venv/bin/python -m bench.judge

# The A/B and watch cells (docs/judge-benchmark-ab-watch.md): 200 runs a cell.
bench-judge-ab-watch: setup
	@.venv/bin/python -m bench.judge.ab_watch --runs 200

# A real Temporal cluster on loopback (PostgreSQL, 2 history + 2 matching instances, Web UI): deploy/README.md.
# Stop it with `deploy/cluster/stop.sh`; its data stays in .run/cluster until that folder is deleted.
cluster: setup
	@bash scripts/install_cluster.sh && bash deploy/cluster/start.sh

clean:
	rm -rf .run .data .build
