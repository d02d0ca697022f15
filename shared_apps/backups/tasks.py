"""Backup tasks (thin: the work is in `services`). The beat runs `backups.run` on
UPLINE_BACKUP_SCHEDULE and `backups.sweep` hourly; each backup is a task of its own."""

from config.celery import app

from . import services
from .models import Backup

# A dump of a large database takes long; the limits stay below the broker's visibility
# timeout, so a backup still running is never delivered to a second worker.
_LONG = {
    "ignore_result": True,
    "max_retries": 0,
    "soft_time_limit": services.WORK_SOFT_SECONDS,
    "time_limit": services.WORK_HARD_SECONDS,
}


@app.task(name="backups.run", ignore_result=True, max_retries=0)
def run() -> int:
    """Beat entry point: queue the whole-database backup and one archive per instance."""
    return len(services.backup_run(trigger=Backup.Trigger.SCHEDULE))


@app.task(name="backups.database_backup", **_LONG)
def database_backup(*, backup_id: int) -> None:
    services.backup_database_perform(backup_id=backup_id)


@app.task(name="backups.instance_backup", **_LONG)
def instance_backup(*, backup_id: int) -> None:
    services.backup_instance_perform(backup_id=backup_id)


@app.task(name="backups.sweep", ignore_result=True, max_retries=0)
def sweep() -> None:
    """Report backups whose worker died or never came, and prune old ones."""
    services.backups_sweep()
