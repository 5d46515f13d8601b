"""The admin's retention page (Casework > Retention runs), for administrators.

Per programme, the closed cases whose personal data will be anonymised in the next
30 days and those past their date still waiting (a failed case is tried again every
night); below, each run with what it anonymised and what failed, and why. Read-only:
runs are written by the nightly task and ``apply_retention``, never here.
"""

from __future__ import annotations

from collections import Counter

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from casework.models import RetentionRun
from lifecycle.retention import retention_due
from programmes.models import Programme

DUE_WITHIN_DAYS = 30


@admin.register(RetentionRun)
class RetentionRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "today", "cases_anonymised", "persons_anonymised", "failure_count"]
    list_filter = ["today"]
    date_hierarchy = "started_at"
    fields = ["started_at", "finished_at", "today", "cases_anonymised", "persons_anonymised", "failures"]
    readonly_fields = fields

    @admin.display(description=_("failures"))
    def failure_count(self, run: RetentionRun) -> int:
        return run.failure_count

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        today = timezone.localdate()
        due = retention_due(today=today, days=DUE_WITHIN_DAYS)
        names = dict(Programme.objects.values_list("pk", "name"))
        last = RetentionRun.objects.order_by("-started_at", "-pk").first()
        failed = Counter(failure.get("programme") for failure in (last.failures if last else []) if "case" in failure)
        programmes = [
            {
                "name": names.get(programme_id, _("Not enrolled in a programme")),
                "retention_days": retention_days,
                "due": due[programme_id].due if programme_id in due else [],
                "overdue": due[programme_id].overdue if programme_id in due else [],
                "failed": failed.get(programme_id, 0),
            }
            for programme_id, retention_days in [
                *Programme.objects.order_by("name").values_list("pk", "retention_days"),
                *([(None, None)] if None in due else []),
            ]
        ]
        failures = [
            {
                "subject": failure["case"] if "case" in failure else f"person #{failure.get('person')}",
                "step": failure.get("step", ""),
                "error": failure.get("error", ""),
            }
            for failure in (last.failures if last else [])
        ]
        context = {
            "retention_last_failures": failures,
            "retention_programmes": programmes,
            "retention_days_ahead": DUE_WITHIN_DAYS,
            "retention_last_run": last,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)
