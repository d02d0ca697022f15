"""Background provisioning work (thin: the logic is in `provisioning.schemas`)."""

from config.celery import app

from . import schemas


# Building schemas takes a while each: longer than the default limits.
@app.task(
    name="provisioning.tasks.pool_refill",
    ignore_result=True,
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
)
def pool_refill() -> int:
    """Top the warm pool up to UPLINE_POOL_SIZE schemas. Safe to run concurrently."""
    return schemas.pool_refill()
