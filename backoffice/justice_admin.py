"""Admin pages of the justice track: legal proceedings with their hearings.

The rows come from ``justice.selectors`` (administrators, the programme's
supervisors and legal officers; never a caseworker or a partner); the case of a
new proceeding is picked among the cases the user records proceedings of; a
save goes through ``justice.services``, which switches the stage plan when a
release is recorded. Every list and page is audited as a read.
"""

from __future__ import annotations

from django.contrib import admin

from audit.reads import ReadAuditedAdminMixin
from backoffice.scoping import ScopedInlineMixin, ScopedModelAdmin
from justice import selectors, services
from justice.models import CourtHearing, LegalProceeding


class JusticeAccessMixin:
    """Pages shown only to those the rule lets read proceedings at all (no empty list for a caseworker)."""

    def _may(self, request) -> bool:
        return selectors.may_record_proceedings(request.user)

    def has_module_permission(self, request):
        return self._may(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._may(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return self._may(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        if (
            obj is not None
            and not selectors.proceeding_recordable_by(request.user)
            .filter(pk=getattr(obj, "proceeding_id", obj.pk))
            .exists()
        ):
            return False
        return self._may(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # History of the proceedings is kept; retention decides when it goes.
        return False


class CourtHearingInline(JusticeAccessMixin, ScopedInlineMixin, admin.TabularInline):
    model = CourtHearing
    extra = 0
    fields = ["held_on", "court", "outcome", "notes"]


@admin.register(LegalProceeding)
class LegalProceedingAdmin(JusticeAccessMixin, ReadAuditedAdminMixin, ScopedModelAdmin, admin.ModelAdmin):
    visible_to = selectors.proceeding_visible_to
    list_display = ["case", "stage", "verdict", "sentence_kind", "detained_since", "expected_release_on"]
    list_filter = ["stage", "verdict", "sentence_kind"]
    list_select_related = ["case"]
    search_fields = ["case__reference"]
    raw_id_fields = ["case"]
    inlines = [CourtHearingInline]
    fieldsets = [
        (None, {"fields": ["case", "stage", "opened_on", "authority", "charges"]}),
        ("Verdict and sentence", {"fields": ["verdict", "verdict_on", "sentence_kind", "sentence_months"]}),
        (
            "Custody",
            {"fields": ["sentence_start", "detained_since", "detention_place", "expected_release_on"]},
        ),
        ("Release", {"fields": ["actual_release_on"]}),
        ("Legal representation", {"fields": ["representation", "representative"]}),
        (
            "Post-release conditions",
            {"fields": ["reporting_duty", "reporting_until", "travel_ban", "travel_ban_until"]},
        ),
    ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "case":
            # The staff side of the rule: never a case whose proceedings the user may not record.
            kwargs["queryset"] = selectors.legal_cases_of(request.user).order_by("reference")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.pk:
            # A recorded release switched the plan: it is history, not a field to edit.
            readonly = ["case"]
            if obj.actual_release_on:
                readonly.append("actual_release_on")
            return readonly
        return []

    def save_model(self, request, obj, form, change):
        services.proceeding_save(proceeding=obj, by=request.user)

    def save_formset(self, request, form, formset, change):
        for hearing in formset.save(commit=False):
            hearing.proceeding = form.instance
            services.hearing_save(hearing=hearing, by=request.user)


@admin.register(CourtHearing)
class CourtHearingAdmin(JusticeAccessMixin, ReadAuditedAdminMixin, ScopedModelAdmin, admin.ModelAdmin):
    visible_to = selectors.hearing_visible_to
    list_display = ["held_on", "proceeding", "court", "outcome"]
    list_filter = ["outcome"]
    list_select_related = ["proceeding"]
    raw_id_fields = ["proceeding"]
    fields = ["proceeding", "held_on", "court", "outcome", "notes"]
    date_hierarchy = "held_on"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "proceeding":
            kwargs["queryset"] = selectors.proceeding_recordable_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        services.hearing_save(hearing=obj, by=request.user)
