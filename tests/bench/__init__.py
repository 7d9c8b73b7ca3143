"""`make bench`: the project's figures, printed as `name: value` and written to bench-results.json."""
