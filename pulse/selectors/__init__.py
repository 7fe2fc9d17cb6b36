"""Read-only queries (selectors): functions that read and compute, never write."""
