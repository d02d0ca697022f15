"""Test settings plus the migration probe app (used by tests/test_upline_migrate.py)."""

from config.settings.test import *  # noqa: F401,F403
from config.settings.test import INSTALLED_APPS, SHARED_APPS, TENANT_APPS

TENANT_APPS = [*TENANT_APPS, "tests.migrate_probe"]
SHARED_APPS = [*SHARED_APPS, "tests.migrate_probe"]
INSTALLED_APPS = [*INSTALLED_APPS, "tests.migrate_probe"]
