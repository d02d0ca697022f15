"""Operator console: administering resellers from the base domain (public schema)."""
