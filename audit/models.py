"""The audit trail: one append-only table of changes (written by django-auditlog) and reads.

Entries never carry personal values: names, identifiers and free text are
recorded as changed, not copied (see ``audit.registration``), and the object is
named by model and id or case reference. So the trail can stay whole after a
person's data is anonymised. The database itself refuses UPDATE and DELETE on
the table (triggers in the migration), whatever door a request comes through.
"""

from __future__ import annotations

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from audit.context import Door, current


def persons_key(person_ids) -> str:
    """``|3|17|``: searchable with a plain ``contains`` on every database."""
    ids = sorted({int(pk) for pk in person_ids if pk is not None})
    return "|" + "|".join(str(pk) for pk in ids) + "|" if ids else ""


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit entries are append-only.")

    def delete(self):
        raise PermissionError("Audit entries are append-only.")


class AuditEntryManager(LogEntryManager.from_queryset(AuditEntryQuerySet)):
    def log_create(self, instance, force_log: bool = False, **kwargs):
        from audit.registration import audit_label, person_ids_of

        kwargs.setdefault("object_repr", audit_label(instance))
        kwargs.setdefault("persons", persons_key(person_ids_of(instance)))
        return super().log_create(instance, force_log=force_log, **kwargs)

    def log_m2m_changes(self, changed_queryset, instance, operation, field_name, **kwargs):
        from audit.registration import audit_label

        kwargs.setdefault("object_repr", audit_label(instance))
        return super().log_m2m_changes(changed_queryset, instance, operation, field_name, **kwargs)


class AuditEntry(AbstractLogEntry):
    # PROTECT, not auditlog's SET_NULL: the trail outlives no account; staff accounts
    # are deactivated, never deleted, once they have acted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        blank=True,
        null=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    door = models.CharField(_("door"), max_length=10, choices=Door.choices, default=Door.SYSTEM)
    agency = models.ForeignKey(
        "casework.Agency",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("agency"),
        help_text=_("The partner agency the actor acted for."),
    )
    persons = models.TextField(
        _("persons"), blank=True, default="", help_text=_("Ids of the people the entry concerns, as |id|id|.")
    )
    object_ids = models.JSONField(
        _("objects read"), null=True, blank=True, help_text=_("For list reads: the ids of the rows returned.")
    )

    objects = AuditEntryManager()

    class Meta(AbstractLogEntry.Meta):
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        indexes = [
            # Admin search: by user and time, by agency and time.
            models.Index(fields=["actor", "-timestamp"], name="audit_actor_time_idx"),
            models.Index(fields=["agency", "-timestamp"], name="audit_agency_time_idx"),
            models.Index(fields=["content_type", "object_id"], name="audit_object_idx"),
        ]

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise PermissionError("Audit entries are append-only.")
        context = current()
        if self.actor_id is None:
            actor = context.actor()
            if actor is not None:
                self.actor = actor
                self.actor_email = getattr(actor, "email", None) or None
        if self.door == Door.SYSTEM:
            self.door = context.door
        if self.agency_id is None and self.actor_id is not None:
            self.agency_id = agency_id_for(self.actor, context)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit entries are append-only.")


def agency_id_for(user, context) -> int | None:
    """The partner agency a user acts for (none for staff); read once per request."""
    request = context.request
    cache = getattr(request, "_audit_agency", None) if request is not None else None
    if cache is not None and cache[0] == user.pk:
        return cache[1]
    from core.roles import agency_ids_for

    # The same answer the scoping used for this request (asked once per request).
    agency_ids = agency_ids_for(user)
    agency_id = min(agency_ids) if agency_ids else None
    if request is not None:
        request._audit_agency = (user.pk, agency_id)
    return agency_id
