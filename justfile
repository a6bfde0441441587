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

# print the benchmark figures, each beside its limit measured in the same run
bench:
    for script in benchmarks/bench_*.py; do echo "== $script"; {{py}} "$script" || exit 1; done

# build the documentation site into site/
docs:
    {{py}} -m mkdocs build --strict
