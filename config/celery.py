"""The Celery application, configured from Django settings (CELERY_* names).

Log lines of a task carry the request id of the web request that enqueued it:
``before_task_publish`` writes the current id into the message's headers, and
``task_prerun``/``task_postrun`` bind it in the worker for the task's duration
(a task enqueued outside a request gets an id of its own). The worker logs
through Django's LOGGING (JSON by default) rather than Celery's own format.
"""

import logging.config
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# A metric's files are made as it is defined: the folder must exist before any is.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

app = Celery("rehab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

#: The message header that carries the request id (a plain token: core.request_log checks it).
REQUEST_ID_HEADER = "request_id"

# The binding of each running task, undone when it ends (by task id).
_bindings: dict = {}


@signals.before_task_publish.connect
def _publish_request_id(headers=None, **kwargs):
    from core.request_log import current_request_id

    request_id = current_request_id()
    if headers is not None and request_id:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


def _header(task, name):
    request = getattr(task, "request", None)
    value = getattr(request, name, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(name)
    return value


@signals.task_prerun.connect
def _bind_request_id(task_id=None, task=None, **kwargs):
    from core.request_log import bind_request_id, current_request_id

    # A task run eagerly inside a request (no message, no header) keeps that request's id.
    _bindings[task_id] = bind_request_id(_header(task, REQUEST_ID_HEADER) or current_request_id())


@signals.task_postrun.connect
def _unbind_request_id(task_id=None, **kwargs):
    from core.request_log import unbind_request_id

    token = _bindings.pop(task_id, None)
    if token is not None:
        unbind_request_id(token)


@signals.setup_logging.connect
def _django_logging(**kwargs):
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


# --- the worker's metrics ------------------------------------------------------------------
# E-mails are sent in the worker, so their counters (rehab_notification_sends_total) live
# there, not in the web processes that serve /metrics. With CELERY_METRICS_PORT set, the
# worker serves them itself on that port (counters only: no row, no name, no address);
# with a prefork pool, PROMETHEUS_MULTIPROC_DIR lets the main process add up its children.


def _multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@signals.worker_init.connect
def _serve_worker_metrics(**kwargs):
    port = os.environ.get("CELERY_METRICS_PORT")
    if not port:
        return
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    registry = REGISTRY
    if _multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(int(port), addr=os.environ.get("CELERY_METRICS_ADDR", "0.0.0.0"), registry=registry)


@signals.worker_process_shutdown.connect
def _forget_worker_process(pid=None, **kwargs):
    if _multiprocess_dir() and pid:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
