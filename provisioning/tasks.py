"""Background provisioning work (thin: the logic is in `provisioning.schemas`)."""

from config.celery import app

from . import schemas


@app.task(name="provisioning.tasks.pool_refill", ignore_result=True)
def pool_refill() -> int:
    """Top the warm pool up to UPLINE_POOL_SIZE schemas. Safe to run concurrently."""
    return schemas.pool_refill()
