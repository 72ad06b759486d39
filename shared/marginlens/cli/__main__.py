"""`python -m marginlens.cli`: the `marginlens` command."""

from marginlens.cli import main

main()
