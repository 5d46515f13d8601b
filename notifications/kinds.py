"""The e-mail kinds the outbox sends, registered by the apps that produce them.

``notifications`` knows how to store, claim, send and retry an e-mail; what an
e-mail of a kind says, and about which row, is its producer's business. Each
producer registers its kinds at start-up (in its ``AppConfig.ready``):

    kinds.register(EmailKind(key="overdue", label=_("Overdue"), subject_type="follow_up", render=...))

so a new kind needs no edit here. A row whose kind nobody registered is never
rendered (``render`` refuses it loudly), and creating one is refused at once
(``validate_kind``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured, ValidationError


@dataclass(frozen=True)
class EmailKind:
    #: stored in ``Notification.kind`` (at most 20 characters)
    key: str
    #: shown in the admin's outbox
    label: str
    #: what ``Notification.subject_id`` points at, stored in ``subject_type``
    subject_types: tuple[str, ...]
    #: builds the message of one row, or None when it is no longer relevant
    render: Callable


_KINDS: dict[str, EmailKind] = {}


def register(*kinds: EmailKind) -> None:
    for kind in kinds:
        if len(kind.key) > 20:
            raise ImproperlyConfigured(f"E-mail kind {kind.key!r} is longer than 20 characters.")
        existing = _KINDS.get(kind.key)
        if existing is not None and existing != kind:
            raise ImproperlyConfigured(f"Two e-mail kinds named {kind.key!r}.")
        _KINDS[kind.key] = kind


def get(key: str) -> EmailKind:
    try:
        return _KINDS[key]
    except KeyError:
        raise ImproperlyConfigured(f"No app registered the e-mail kind {key!r}.") from None


def registered() -> list[EmailKind]:
    return sorted(_KINDS.values(), key=lambda kind: kind.key)


def label(key: str) -> str:
    kind = _KINDS.get(key)
    return str(kind.label) if kind is not None else key


def validate_kind(key: str, subject_type: str) -> None:
    """A notification names a registered kind and one of that kind's subjects."""
    kind = _KINDS.get(key)
    if kind is None:
        raise ValidationError({"kind": "This kind of e-mail is not known."})
    if subject_type not in kind.subject_types:
        raise ValidationError({"subject_type": "This kind of e-mail is not about this kind of record."})
