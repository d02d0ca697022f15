"""A test-only app with one migration, to give `upline_migrate` something to apply.

Installed only by `tests.migrate_probe.settings` (the subprocesses of
tests/test_upline_migrate.py), never by the project's settings.
"""
