"""Gunicorn settings for Upline's web container; every knob can be set from the environment."""

import os
import shutil

wsgi_app = "config.wsgi:application"
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# cpu_count() inside a container reports the host's CPUs, so size from the env instead.
workers = int(os.environ.get("GUNICORN_WORKERS") or os.environ.get("WEB_CONCURRENCY") or 3)
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5

# Recycle workers now and then so a slow leak in one tenant's code path cannot grow forever.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = 100

# Only nginx/the ingress can reach the pod, so trust its X-Forwarded-Proto (https detection).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")

# The heartbeat file on overlayfs can stall workers; tmpfs cannot.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# The image's home directory is read-only.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "/tmp/gunicorn.ctl")

errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# Upline writes one JSON access line per request itself (with the request id, instance
# schema and view; logger "upline.access"), so gunicorn's own access line is off unless
# GUNICORN_ACCESSLOG=on. gunicorn's lines are JSON too, like the app's.
_gunicorn_access = os.environ.get("GUNICORN_ACCESSLOG", "").lower() in {"1", "on", "true", "yes"}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "shared_apps.observability.logs.JsonLinesFormatter"}},
    "handlers": {
        "json": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": ["json"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["json"], "propagate": False},
        "gunicorn.access": {
            "level": "INFO" if _gunicorn_access else "WARNING",
            "handlers": ["json"],
            "propagate": False,
        },
    },
}

# Prometheus multiprocess mode: each worker writes its counters to files in this folder and
# /metrics adds them up, so a scrape sees the whole pod whichever worker answers it. Set
# here, in the master, so every worker inherits it before it imports prometheus_client.
# tmpfs (/dev/shm) when there is one: the files are memory-mapped and written per request.
# The counts of workers recycled by max_requests stay in their files (totals must never go
# down); the folder is emptied when gunicorn starts, so it grows only until the next restart.
_metrics_root = "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp"
metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(_metrics_root, "upline-metrics")
)


def on_starting(server):
    """Start with an empty folder: files left by a previous run would be counted again."""
    shutil.rmtree(metrics_dir, ignore_errors=True)
    os.makedirs(metrics_dir, exist_ok=True)


def child_exit(server, worker):
    """A worker that exits (recycled by max_requests, killed) stops counting its gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
