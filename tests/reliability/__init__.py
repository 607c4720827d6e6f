"""Process-level reliability tests: the service run as real processes (PostgreSQL)."""
