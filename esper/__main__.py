"""`python -m esper` runs the CLI."""

from esper.cli.main import main

main()
