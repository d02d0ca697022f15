"""PostgreSQL backend for Upline (see `base`)."""
