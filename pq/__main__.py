"""`python -m pq` is the `pq` command."""

from pq.cli import main

main()
