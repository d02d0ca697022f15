"""Gunicorn settings for Upline's web container; every knob can be set from the environment."""

import os

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

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
