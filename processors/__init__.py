"""Stream processors: the tables everyone reads, built from the raw facts."""
