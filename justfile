# pq developer commands. `just` lists them; every recipe uses the project's .venv.

venv := ".venv"
py := venv / "bin/python"

# list the recipes
default:
    @just --list

# create .venv and install pq with every development tool
setup:
    test -x {{py}} || python3 -m venv {{venv}}
    {{py}} -m pip install -q -e '.[dev]'

# run examples/quickstart.py on the embedded development database
demo:
    {{py}} examples/quickstart.py

# run the test suite (embedded Postgres unless PQ_TEST_DATABASE_URL is set)
test *args:
    {{py}} -m pytest {{args}}

# ruff lint and format check, mypy --strict
lint:
    {{py}} -m ruff check pq tests benchmarks examples
    {{py}} -m ruff format --check pq tests benchmarks examples
    {{py}} -m mypy --strict pq

# format the code
fmt:
    {{py}} -m ruff format pq tests benchmarks examples
    {{py}} -m ruff check --fix pq tests benchmarks examples

# mypy --strict on the package
typecheck:
    {{py}} -m mypy --strict pq

# print the benchmark figures, each beside its limit measured in the same run (docs/performance.md);
# Celery beside pq too when PEERS_PYTHON (default /tmp/peers/bin/python) has benchmarks/peers' requirements
bench:
    #!/usr/bin/env bash
    failed=()
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores, $(date -u +%F)"
    for script in benchmarks/bench_*.py; do
        echo "== $script"
        {{py}} "$script" || failed+=("$script")
    done
    peers="${PEERS_PYTHON:-/tmp/peers/bin/python}"
    if "$peers" -c "import celery, redis; redis.Redis().ping()" 2>/dev/null; then
        echo "== benchmarks/peers/bench_celery.py"
        # the same database as the scripts above (the embedded one unless PQ_DATABASE_URL is set)
        url="${PQ_DATABASE_URL:-$({{py}} -c 'from pq.store.embedded import resolve_database_url as r; print(r(None))')}"
        PQ_DATABASE_URL="$url" "$peers" benchmarks/peers/bench_celery.py --tasks 500 || failed+=(benchmarks/peers/bench_celery.py)
    else
        echo "== benchmarks/peers/bench_celery.py skipped: no Celery or no Redis (see benchmarks/peers/requirements.txt)"
    fi
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}"; exit 1; fi

# build the documentation site into site/
docs:
    {{py}} -m mkdocs build --strict
