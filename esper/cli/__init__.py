"""The ``esper`` command line: `main` and one module per subcommand (imported when used)."""
