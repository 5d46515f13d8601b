"""gunicorn's settings for the production web process (docker-compose.yml, the Dockerfile):
``gunicorn config.wsgi -c config/gunicorn.conf.py``. Options given on the command line win.

The access log leaves out query strings and the referrer: admin searches put names and
identifier numbers in the URL (``?q=...``), and a log is kept and copied far more widely
than the database.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
accesslog = "-"
# Address, time, method, path without the query string, protocol, status, size, duration (ms).
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
