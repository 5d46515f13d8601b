"""Each pytest-xdist worker on Redis databases of its own (loaded with ``-p`` before Django's settings).

``make test`` runs the suite on every core (pytest-xdist). The database is already one per
worker (pytest-django names it ``test_<name>_gw<N>``); Redis is shared by default, and the
throttle counters, the beat's heartbeat and the Celery queues of one worker's tests would
then count or drain the other's. So worker N moves the broker to database ``base + 2N`` and
the cache (the next database) with it, before the settings read ``REDIS_URL``; processes the
tests start (gunicorn, Celery workers) are given the moved URL by the tests themselves.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit


def _moved(url: str, offset: int) -> str:
    parts = urlsplit(url)
    current = parts.path.strip("/")
    number = int(current) if current.isdigit() else 0
    return urlunsplit(parts._replace(path=f"/{(number + offset) % 16}"))


_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and _worker[2:].isdigit():
    _offset = 2 * int(_worker[2:])
    for _key in ("REDIS_URL", "REDIS_CACHE_URL"):
        if os.environ.get(_key):
            os.environ[_key] = _moved(os.environ[_key], _offset)
