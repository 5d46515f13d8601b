"""Who is acting, and through which door: the context every audit entry is stamped with.

A request (admin or API), a Celery task or a management command opens a context;
``AuditEntry`` rows created inside it take their actor, door and agency from it.
The actor is read when an entry is written, not when the context opens: the API
authenticates its caller (a token) only inside the view.
"""

from __future__ import annotations

import contextlib
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class Door(models.TextChoices):
    ADMIN = "admin", _("admin")
    API = "api", _("API")
    TASK = "task", _("task")
    COMMAND = "command", _("command")
    SYSTEM = "system", _("system")


@dataclass
class AuditContext:
    door: str
    request: Any = None
    user: Any = None

    def actor(self):
        user = self.user
        if user is None and self.request is not None:
            user = getattr(self.request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            return user
        return None


_current: ContextVar[AuditContext | None] = ContextVar("audit_context", default=None)


def _default_door() -> str:
    # A process started by manage.py (a command, or the runserver/worker it launches
    # sets its own context) acts through the command door.
    return Door.COMMAND if sys.argv and sys.argv[0].endswith("manage.py") else Door.SYSTEM


def current() -> AuditContext:
    return _current.get() or AuditContext(door=_default_door())


@contextlib.contextmanager
def audit_context(*, door: str, request=None, user=None):
    token = _current.set(AuditContext(door=door, request=request, user=user))
    try:
        yield
    finally:
        _current.reset(token)


@contextlib.contextmanager
def acting_as(user):
    """Services name their actor (``by=``) even when called outside a request: from a
    task, a command, the shell or a test. Inside a request the caller already is the actor."""
    context = _current.get()
    if context is None:
        token = _current.set(AuditContext(door=_default_door(), user=user))
        try:
            yield
        finally:
            _current.reset(token)
    elif context.actor() is None:
        previous, context.user = context.user, user
        try:
            yield
        finally:
            context.user = previous
    else:
        yield


def set_user(user) -> None:
    """Names the caller once the view has authenticated it (API tokens)."""
    context = _current.get()
    if context is not None:
        context.user = user


class AuditContextMiddleware:
    """Every request is an admin or an API request for the audit trail."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        door = Door.API if request.path.startswith("/api/") else Door.ADMIN
        with audit_context(door=door, request=request):
            return self.get_response(request)


def connect_task_signals() -> None:
    from celery.signals import task_postrun, task_prerun

    tokens: dict[str, Any] = {}

    def opened(task_id=None, **kwargs):
        tokens[task_id] = _current.set(AuditContext(door=Door.TASK))

    def closed(task_id=None, **kwargs):
        token = tokens.pop(task_id, None)
        if token is not None:
            try:
                _current.reset(token)
            except ValueError:  # opened in another context (an eager task inside a request)
                _current.set(None)

    task_prerun.connect(opened, weak=False, dispatch_uid="audit.task_prerun")
    task_postrun.connect(closed, weak=False, dispatch_uid="audit.task_postrun")
