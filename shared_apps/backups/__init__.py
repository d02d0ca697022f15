"""Backups and restore: whole-database dumps and per-instance archives, kept N days."""
