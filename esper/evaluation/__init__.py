"""``esper eval``: controllers compared over many seeds, with confidence intervals."""
