"""Read-only queries (selectors): pure functions over the database, no writes, no provider calls."""
