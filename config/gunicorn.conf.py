"""gunicorn's settings for the production web process (docker-compose.yml, the Dockerfile):
``gunicorn config.wsgi -c config/gunicorn.conf.py``. Options given on the command line win.

The access log leaves out query strings and the referrer: admin searches put names and
identifier numbers in the URL (``?q=...``), and a log is kept and copied far more widely
than the database. Each line ends with the request id the app answered with
(``X-Request-ID``), the same as on the app's own log lines of that request.

With ``PROMETHEUS_MULTIPROC_DIR`` set, every worker writes its metrics to files in that
folder and ``/metrics`` adds them up (config/metrics.py): the folder is emptied when
gunicorn starts, and a dead worker's gauges are dropped.
"""

import os
import shutil

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
accesslog = "-"
# Address, time, method, path without the query string, protocol, status, size, duration (ms), request id.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'


def on_starting(server):
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
