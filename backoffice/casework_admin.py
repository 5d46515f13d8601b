"""Admin for people, families, operations, cases, consent, agencies and referrals.

Every change list is scoped by the same selectors as the API, so a caseworker
sees only their programmes' people.
"""

import re
from functools import partial

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Count

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from audit.reads import ReadAuditedAdminMixin
from lifecycle import closure, transfer
from lifecycle.merge import may_merge, persons_merge
from casework import selectors, services, visibility
from backoffice.scoping import OpenCaseForm, ScopedInlineMixin, ScopedModelAdmin, staff_list_filter
from casework.duplicates import distinguishing_details, duplicate_candidates
from core.errors import DomainError
from casework.names import name_search_condition
from backoffice.overview import case_overview, may_see_sensitive
from backoffice.programmes_admin import MyWorkFilter
from backoffice.exports import ExportMixin
from backoffice.who import WHO_COLUMNS, WhoColumns
from core.roles import is_administrator, programme_ids_for
from programmes import rules
from programmes.selectors import follow_up_visible_to, programme_visible_to, stage_visible_to
from casework.models import (
    Agency,
    Case,
    CaseNote,
    CaseStatusChange,
    ClosureRequest,
    Consent,
    Family,
    FamilyMembership,
    NameKind,
    Person,
    PersonIdentifier,
    PersonName,
    ReceivingRelative,
    Referral,
    ReferralStatus,
    RepatriationOperation,
    SENSITIVE_NAME_KINDS,
    identifier_digest,
)
from programmes import services as programme_services
from programmes.models import RelativeContact


# The index shows the caseworker's dashboard above the applications.
admin.site.index_template = "admin/casework/index.html"


# Kept under its former name for the other apps' admins.
ScopedAdminMixin = ScopedModelAdmin


class PersonNameInline(ScopedInlineMixin, admin.TabularInline):
    model = PersonName
    extra = 1


class PersonIdentifierInline(ScopedInlineMixin, admin.TabularInline):
    model = PersonIdentifier
    extra = 0


class FamilyMembershipInline(ScopedInlineMixin, admin.TabularInline):
    model = FamilyMembership
    extra = 0
    autocomplete_fields = ["person"]


class ReceivingRelativeInline(ScopedInlineMixin, admin.StackedInline):
    model = ReceivingRelative
    extra = 0
    fields = ["name", "relationship", "phone", "address"]


class PersonFamilyInline(ScopedInlineMixin, admin.TabularInline):
    model = FamilyMembership
    fk_name = "person"
    extra = 0
    autocomplete_fields = ["family"]
    verbose_name_plural = _("families")


class CrossScriptSearchMixin:
    """Search also by transliterated name key (any script, common spelling variants) and exact identifier."""

    #: path from this model to Person, e.g. "" for Person, "person__" for Case
    person_path = ""

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return results, may_have_duplicates
        path = self.person_path
        # A term with digits is a reference or an identifier, not a name: its name key
        # (digits dropped) would match almost everyone.
        by_name = None if any(char.isdigit() for char in term) else name_search_condition(term, f"{path}search_key")
        # Former names, aliases and identifiers match only for people whose sensitive
        # details the user may see: the same rule as the page that would show them.
        sensitive_ok = Q(
            **{f"{path}pk__in" if path else "pk__in": selectors.sensitive_person_visible_to(request.user).values("pk")}
        )
        matches = Q()
        if by_name is not None:
            # Every word must match within one name (the primary name, or one spelling).
            by_spelling = name_search_condition(term, f"{path}names__search_key")
            matches |= by_name
            # Positive on the kind, so that the condition stays on the same spelling row.
            plain_kinds = [kind for kind in NameKind.values if kind not in SENSITIVE_NAME_KINDS]
            matches |= by_spelling & Q(**{f"{path}names__kind__in": plain_kinds})
            matches |= by_spelling & sensitive_ok
        if term:
            matches |= Q(**{f"{path}identifiers__value_digest": identifier_digest(term)}) & sensitive_ok
        return results | queryset.filter(matches), True


class MembershipThroughServiceMixin:
    """Family memberships added on a person's or a family's page go through the service,
    which checks that the user may see both the family and the person."""

    def save_formset(self, request, form, formset, change):
        if formset.model is ReceivingRelative:
            for relative in formset.save(commit=False):
                services.receiving_relative_save(relative=relative, by=request.user)
            for deleted in formset.deleted_objects:
                deleted.delete()
            return None
        if formset.model is not FamilyMembership:
            return super().save_formset(request, form, formset, change)
        instances = formset.save(commit=False)
        for deleted in formset.deleted_objects:
            deleted.delete()
        for membership in instances:
            services.family_membership_save(membership=membership, by=request.user)
        return None


class PersonIntakeForm(forms.ModelForm):
    """The person form; on an add, the duplicate check (casework.duplicates) runs in
    ``clean`` and a possible duplicate must be confirmed as a different person."""

    confirm_different_person = forms.BooleanField(
        label=_("This is a different person"),
        required=False,
        help_text="Tick after checking the possible duplicates listed above.",
    )
    #: Set by PersonAdmin.get_form on an add: cleaned data -> lines describing the candidates.
    duplicate_check = None

    def clean(self):
        cleaned = super().clean()
        check = type(self).duplicate_check
        if check is None or self.instance.pk is not None or self.errors:
            return cleaned
        candidates = check(cleaned)
        if candidates and not cleaned.get("confirm_different_person"):
            raise ValidationError(
                [ValidationError("Possible duplicates already on file:", code="possible_duplicate")]
                + [ValidationError(line, code="possible_duplicate") for line in candidates]
                + [
                    ValidationError(
                        "Open them to check. If this is a different person, tick "
                        "“This is a different person” and save again.",
                        code="possible_duplicate",
                    )
                ]
            )
        return cleaned


class _LabelledForPicking:
    """A person as a picker lists them: the model instance, printed with what tells
    them apart from others of the same name (AutocompleteJsonView prints ``str(obj)``)."""

    def __init__(self, person, label):
        self._person = person
        self._label = label

    def __getattr__(self, name):
        return getattr(self._person, name)

    def __str__(self):
        return self._label


class _PickingPaginator(Paginator):
    """Pages of people for the autocomplete, each labelled by ``labels_for(people)``."""

    def __init__(self, *args, labels_for, **kwargs):
        super().__init__(*args, **kwargs)
        self.labels_for = labels_for

    def _get_page(self, object_list, number, paginator):
        people = list(object_list)
        labels = self.labels_for(people)
        return super()._get_page([_LabelledForPicking(p, labels[p.pk]) for p in people], number, paginator)


@admin.register(Person)
class PersonAdmin(
    ReadAuditedAdminMixin, MembershipThroughServiceMixin, CrossScriptSearchMixin, ScopedModelAdmin, admin.ModelAdmin
):
    visible_to = selectors.person_visible_to
    form = PersonIntakeForm
    list_display = ["full_name", "sex", "date_of_birth", "date_of_birth_estimated", "nationality", "case_links"]
    list_filter = ["sex", "date_of_birth_estimated", "nationality"]
    # Other spellings are searched by their key (CrossScriptSearchMixin), which knows which are sensitive.
    search_fields = ["given_name", "family_name", "patronymic", "cases__reference"]
    inlines = [PersonNameInline, PersonIdentifierInline, PersonFamilyInline]
    fieldsets = [
        (None, {"fields": [("given_name", "patronymic", "family_name"), "sex"]}),
        ("Birth", {"fields": [("date_of_birth", "date_of_birth_estimated"), "place_of_birth"]}),
        (
            _("Nationality and languages"),
            {"fields": ["nationality", "languages", ("interpreter_needed", "interpreter_language"), "phone"]},
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("cases")

    @admin.display(description=_("cases"))
    def case_links(self, obj):
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:casework_case_change", args=[case.pk]), case.reference) for case in obj.cases.all()),
        )

    def has_delete_permission(self, request, obj=None):
        # People leave the system through retention (anonymisation), not deletion.
        return False

    actions = ["merge_people"]

    def has_merge_permission(self, request):
        # Administrators and supervisors; the service checks that they see both people and their cases.
        return may_merge(request.user)

    @admin.action(description=_("Merge two selected people"), permissions=["merge"])
    def merge_people(self, request, queryset):
        """Ask which of two records to keep, side by side; then merge the other into it
        (``lifecycle.merge``). Refusals are messages; the success names ids and references only."""
        people = list(queryset.order_by("pk")[:3])
        if len(people) != 2:
            self.message_user(request, _("Select exactly two people to merge."), messages.ERROR)
            return None
        ids = {str(person.pk) for person in people}
        keep = request.POST.get("keep", "")
        if "apply" not in request.POST or keep not in ids:
            if "apply" in request.POST:
                self.message_user(request, _("Choose the record to keep."), messages.ERROR)
            return TemplateResponse(
                request,
                "admin/casework/person/merge_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "title": "Merge two records of one person",
                    "records": [_merge_summary(person, request.user) for person in people],
                    "action": "merge_people",
                },
            )
        merge = next(pk for pk in ids if pk != keep)
        try:
            kept = persons_merge(keep_id=int(keep), merge_id=int(merge), by=request.user)
        except (DomainError, ValidationError) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self.message_user(request, _("Nothing merged: %(reason)s") % {"reason": text}, messages.ERROR)
            return None
        references = ", ".join(kept.cases.order_by("reference").values_list("reference", flat=True))
        self.message_user(
            request,
            f"Record {merge} merged into record {kept.pk}" + (f" (cases {references})." if references else "."),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:casework_person_change", args=[kept.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A merged record's old links lead to the record kept, for those who may see it.
        kept = selectors.person_kept_for(request.user, object_id)
        if kept is not None:
            return HttpResponseRedirect(reverse("admin:casework_person_change", args=[kept.pk]))
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if not change:
            # The creator sees the person until a case decides (selectors.person_visible_to).
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        # The confirmation is offered once the form has been sent (and the check has run).
        if obj is None and request.method == "POST":
            fieldsets.append(("Duplicate check", {"fields": ["confirm_different_person"]}))
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None:
            return form
        return type(form.__name__, (form,), {"duplicate_check": staticmethod(partial(_possible_duplicates, request))})

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        match = request.resolver_match
        if match is None or match.url_name != "autocomplete":
            return super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)

        # Pickers (the case form's person, a family's members) print birth year and a
        # reference beside the name: six people of one name must be told apart.
        def labels_for(people):
            details = distinguishing_details(people, user=request.user)
            return {person.pk: f"{person.full_name} ({details[person.pk]})" for person in people}

        return _PickingPaginator(queryset, per_page, orphans, allow_empty_first_page, labels_for=labels_for)

    def get_inlines(self, request, obj):
        if obj is not None and obj.pk and not _may_see_sensitive_person(request.user, obj):
            # Absent, not read-only: the identifiers are not on the page at all.
            return [PersonNameInline, PersonFamilyInline]
        return self.inlines

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if (
            isinstance(inline, PersonNameInline)
            and obj is not None
            and obj.pk
            and not _may_see_sensitive_person(request.user, obj)
        ):
            kwargs["queryset"] = obj.names.exclude(kind__in=SENSITIVE_NAME_KINDS)
        return kwargs


def _may_see_sensitive_person(user, person) -> bool:
    return selectors.may_see_sensitive_person(user, person)


def _merge_summary(person, user) -> dict:
    """One side of the merge page: names in every script (former names and aliases only
    for those who may see them), birth year, and the cases the user sees, by reference."""
    names = person.names.order_by("kind", "script", "pk")
    if not _may_see_sensitive_person(user, person):
        names = names.exclude(kind__in=SENSITIVE_NAME_KINDS)
    year = f"~{person.date_of_birth.year}" if person.date_of_birth_estimated else str(person.date_of_birth.year)
    return {
        "pk": person.pk,
        "full_name": person.full_name,
        "names": [(name.full_name, name.get_script_display(), name.get_kind_display()) for name in names],
        "birth_year": year,
        "sex": person.get_sex_display(),
        "cases": list(
            selectors.case_visible_to(user)
            .filter(person=person)
            .order_by("reference")
            .values_list("reference", "status")
        ),
    }


_SPELLING_FIELD = re.compile(r"names-\d+-full_name")
_IDENTIFIER_FIELD = re.compile(r"identifiers-\d+-value")


def _possible_duplicates(request, cleaned: dict) -> list[str]:
    """Lines describing the people the user may see who may be the person being added:
    by reference and birth year, and why. Other spellings and identifiers typed in
    the page's inlines count too."""
    if not cleaned.get("given_name") or not cleaned.get("date_of_birth") or not cleaned.get("sex"):
        return []
    posted = request.POST
    visible = selectors.person_visible_to(request.user)
    candidates = duplicate_candidates(
        given_name=cleaned["given_name"],
        family_name=cleaned.get("family_name", ""),
        date_of_birth=cleaned["date_of_birth"],
        estimated=bool(cleaned.get("date_of_birth_estimated")),
        sex=cleaned["sex"],
        identifiers=[value for key, value in posted.items() if _IDENTIFIER_FIELD.fullmatch(key)],
        other_spellings=[value for key, value in posted.items() if _SPELLING_FIELD.fullmatch(key)],
        among=visible,
        identifiers_among=visible.filter(pk__in=selectors.sensitive_person_visible_to(request.user).values("pk")),
    )
    details = distinguishing_details([person for person, _, _ in candidates], user=request.user)
    return [f"{details[person.pk]}: {', '.join(reasons)}" for person, _, reasons in candidates]


@admin.register(Family)
class FamilyAdmin(
    ReadAuditedAdminMixin, MembershipThroughServiceMixin, CrossScriptSearchMixin, ScopedModelAdmin, admin.ModelAdmin
):
    list_display = ["reference", "label", "operation", "member_count"]
    list_filter = ["operation"]
    search_fields = ["reference", "label", "persons__given_name", "persons__family_name"]
    person_path = "persons__"
    inlines = [FamilyMembershipInline, ReceivingRelativeInline]
    # Explicit: Meta.ordering is not applied to the member-count (GROUP BY) query.
    ordering = ["reference"]

    visible_to = selectors.family_visible_to

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(ordering="member_count", description=_("members"))
    def member_count(self, obj):
        return obj.member_count

    def save_model(self, request, obj, form, change):
        if not change:
            # The creator sees the family until a case decides (selectors.family_visible_to).
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ReceivingRelative)
class ReceivingRelativeAdmin(ScopedModelAdmin, admin.ModelAdmin):
    """The relatives receiving a family, written through ``services.receiving_relative_save``.
    Opened from the case page (``?case=<id>``), "Save" goes back to that case."""

    visible_to = selectors.receiving_relative_visible_to
    list_display = ["family", "relationship"]
    list_select_related = ["family"]
    fields = ["family", "name", "relationship", "phone", "address"]
    raw_id_fields = ["family"]

    def get_model_perms(self, request):
        # Reached from the case and family pages, not from the index.
        return {}

    def save_model(self, request, obj, form, change):
        services.receiving_relative_save(relative=obj, by=request.user)

    def _back_to_case(self, request, response):
        case_id = request.GET.get("case", "")
        if "_save" in request.POST and case_id.isdigit():
            if selectors.case_visible_to(request.user).filter(pk=int(case_id)).exists():
                return HttpResponseRedirect(reverse("admin:casework_case_change", args=[int(case_id)]))
        return response

    def response_add(self, request, obj, post_url_continue=None):
        return self._back_to_case(request, super().response_add(request, obj, post_url_continue))

    def response_change(self, request, obj):
        return self._back_to_case(request, super().response_change(request, obj))


@admin.register(RepatriationOperation)
class RepatriationOperationAdmin(ScopedModelAdmin, admin.ModelAdmin):
    # A public catalogue: nothing about a person in it.
    list_display = ["name", "code", "operation_date", "origin_country", "origin_camp"]
    list_filter = ["origin_country"]
    search_fields = ["name", "code", "origin_camp"]
    date_hierarchy = "operation_date"


class CaseNoteInline(ScopedInlineMixin, admin.StackedInline):
    model = CaseNote
    extra = 1
    fields = ["body", "author", "created_at"]
    readonly_fields = ["author", "created_at"]

    def has_change_permission(self, request, obj=None):
        # Notes are a record: they are added, not rewritten or deleted.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


# A referral's answer (status, who gave it, when, why) is recorded only by
# ``casework.services`` (the API's accept/decline, the referral page's answer form):
# never typed over by hand.
REFERRAL_ANSWER_FIELDS = ["status", "responded_by", "responded_on", "response_reason"]


class ReferralInline(ScopedInlineMixin, admin.TabularInline):
    """The case page's referrals, with the agency's answer: who gave it, when and why."""

    model = Referral
    form = OpenCaseForm
    extra = 0
    fields = ["agency", "purpose", "consent", "stage", "referred_on", "referred_by", *REFERRAL_ANSWER_FIELDS]
    readonly_fields = ["referred_by", *REFERRAL_ANSWER_FIELDS]
    raw_id_fields = ["consent", "stage"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("agency", "consent", "stage__stage_type", "referred_by", "responded_by")
        )


class CaseStatusChangeInline(ScopedInlineMixin, admin.TabularInline):
    model = CaseStatusChange
    extra = 0
    fields = ["at", "from_status", "to_status", "by", "note"]
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = _("status history")

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("by")


class MyCasesFilter(admin.SimpleListFilter):
    """A caseworker's list opens on their own cases."""

    title = _("assigned")
    parameter_name = "mine"

    def lookups(self, request, model_admin):
        return [("yes", "My cases"), ("all", "All cases I may see")]

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(caseworker=request.user)
        return queryset


class ProgrammeFilter(admin.SimpleListFilter):
    """Cases enrolled in the programme, now or before: the API's ``programme`` filter (``programmes.rules``)."""

    title = _("programme")
    parameter_name = "programme"

    def lookups(self, request, model_admin):
        return [(p.pk, p.name) for p in programme_visible_to(request.user)]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(rules.case_in_programme(int(value)))
        return queryset


class StageFilter(admin.SimpleListFilter):
    """Cases with a stage of this kind in a given status: "stage=schooling:blocked"."""

    title = _("stage")
    parameter_name = "stage"

    def lookups(self, request, model_admin):
        from programmes.models import StageKind, StageStatus

        return [
            (f"{kind}:{status}", f"{kind_label}: {status_label.lower()}")
            for kind, kind_label in StageKind.choices
            if kind != "other"
            for status, status_label in StageStatus.choices
            if status in ("active", "blocked")
        ]

    def queryset(self, request, queryset):
        if self.value() and ":" in self.value():
            kind, status = self.value().split(":", 1)
            return queryset.filter(
                enrolments__stages__stage_type__kind=kind, enrolments__stages__status=status
            ).distinct()
        return queryset


class OverdueFilter(admin.SimpleListFilter):
    """Cases with an overdue stage (the API's ``overdue=true``), or with an overdue follow-up:
    ``programmes.rules``' definitions, over the stages and follow-ups the user may see."""

    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("stage", "A stage past its due date"), ("follow_up", "A follow-up past its due date")]

    def queryset(self, request, queryset):
        if self.value() == "stage":
            return queryset.filter(rules.case_has_overdue_stage(stages=stage_visible_to(request.user)))
        if self.value() == "follow_up":
            return queryset.filter(rules.case_has_overdue_follow_up(follow_ups=follow_up_visible_to(request.user)))
        return queryset


class AgeBandFilter(admin.SimpleListFilter):
    """The API's age bands (``programmes.rules.AGE_BANDS``); the former values (``0-5``,
    ``6-17``, ``18+``) still work in links and bookmarks."""

    title = _("age band")
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [(band, limits.label) for band, limits in rules.AGE_BANDS.items()]

    def value(self):
        value = super().value()
        return rules.FORMER_AGE_BAND_KEYS.get(value, value)

    def queryset(self, request, queryset):
        if self.value() not in rules.AGE_BANDS:
            return queryset
        return queryset.filter(rules.age_band_q(self.value(), birth_field="person__date_of_birth"))


CaseworkerFilter = staff_list_filter("caseworker", "caseworker")


@admin.register(Case)
class CaseAdmin(ReadAuditedAdminMixin, CrossScriptSearchMixin, ExportMixin, ScopedModelAdmin, admin.ModelAdmin):
    visible_to = selectors.case_visible_to
    person_path = "person__"
    change_form_template = "admin/casework/case/change_form.html"
    list_display = ["reference", "person", "caseworker", "status", "risk_level", "operation", "arrival_date"]
    list_filter = [
        MyCasesFilter,
        ProgrammeFilter,
        StageFilter,
        OverdueFilter,
        AgeBandFilter,
        "status",
        "risk_level",
        "operation",
        CaseworkerFilter,
    ]
    search_fields = [
        "reference",
        "person__given_name",
        "person__family_name",
    ]
    list_select_related = ["person", "caseworker", "operation"]
    autocomplete_fields = ["person", "family"]
    date_hierarchy = "arrival_date"
    inlines = [CaseNoteInline, ReferralInline, CaseStatusChangeInline]
    # Closing and reopening go through the closure workflow, never a plain edit.
    readonly_fields = ["status", "closed_on"]
    actions = ["record_family_centre_exit", "archive_cases"]

    def has_archive_permission(self, request):
        return is_administrator(request.user)

    def export_person_ids(self, rows) -> list:
        return [case.person_id for case in rows]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "caseworker" in form.base_fields:
            # Only the staff of the case's programmes (of the user's, before enrolment).
            form.base_fields["caseworker"].queryset = programme_services.caseworker_choices(case=obj, by=request.user)
        return form

    def save_model(self, request, obj, form, change):
        caseworker = obj.caseworker
        if change and "caseworker" in form.changed_data:
            # Reassignment moves the open work with it, in the service.
            obj.caseworker_id = form.initial.get("caseworker")
            super().save_model(request, obj, form, change)
            try:
                programme_services.case_assign(case_id=obj.pk, caseworker=caseworker, by=request.user)
            except (DomainError, ValidationError) as exc:
                text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, _("Caseworker not changed: %(reason)s") % {"reason": text}, messages.ERROR)
            obj.refresh_from_db()
            return
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        # Cases are archived by administrators (audited), never deleted.
        return False

    @admin.action(description=_("Archive selected cases (administrators; replaces deletion)"), permissions=["archive"])
    def archive_cases(self, request, queryset):
        for case in queryset:
            try:
                services.case_archive(case_id=case.pk, by=request.user)
                self.message_user(
                    request, _("%(reference)s: archived.") % {"reference": case.reference}, messages.SUCCESS
                )
            except (DomainError, PermissionError) as exc:
                self.message_user(request, f"{case.reference}: {exc}", messages.ERROR)

    def changelist_view(self, request, extra_context=None):
        # Caseworkers start on "my cases"; any explicit filter or search keeps its own view.
        if not request.GET and not is_administrator(request.user) and request.user.assigned_cases.exists():
            return HttpResponseRedirect(f"{request.path}?mine=yes")
        return super().changelist_view(request, extra_context)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not may_see_sensitive(request.user, obj):
            # Absent, not read-only.
            return [
                (name, {**options, "fields": [f for f in options["fields"] if f != "legal_status"]})
                for name, options in fieldsets
            ]
        return fieldsets

    def get_urls(self):
        return [
            path(
                "<int:case_id>/stage/<int:stage_id>/<str:action>/",
                self.admin_site.admin_view(self.stage_action_view),
                name="casework_case_stage_action",
            ),
            path(
                "<int:case_id>/relative-contact/",
                self.admin_site.admin_view(self.relative_contact_view),
                name="casework_case_relative_contact",
            ),
            path(
                "<int:case_id>/closure/",
                self.admin_site.admin_view(self.closure_request_view),
                name="casework_case_closure_request",
            ),
            path(
                "<int:case_id>/transfer/",
                self.admin_site.admin_view(self.transfer_request_view),
                name="casework_case_transfer_request",
            ),
            *super().get_urls(),
        ]

    def response_change(self, request, obj):
        # "Save" on the case page (a note added, a referral made) stays on the case page.
        response = super().response_change(request, obj)
        if "_save" in request.POST:
            return HttpResponseRedirect(reverse("admin:casework_case_change", args=[obj.pk]))
        return response

    def closure_request_view(self, request, case_id):
        """ "Request closure" on the case page: one step, the reason typed there."""
        case_url = reverse("admin:casework_case_change", args=[case_id])
        if request.method != "POST":
            return HttpResponseRedirect(case_url)
        if not self.get_queryset(request).filter(pk=case_id).exists():
            raise Http404
        if not request.user.has_perm("casework.add_closurerequest"):
            raise Http404
        try:
            closure.case_closure_request(case_id=case_id, by=request.user, reason=request.POST.get("reason", ""))
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, _("Closure requested: the programme's supervisors decide."), messages.SUCCESS)
        return HttpResponseRedirect(case_url)

    def transfer_request_view(self, request, case_id):
        """ "Request transfer" on the case page: the receiving programme and the reason."""
        case_url = reverse("admin:casework_case_change", args=[case_id])
        if request.method != "POST":
            return HttpResponseRedirect(case_url)
        if not self.get_queryset(request).filter(pk=case_id).exists():
            raise Http404
        to_programme = request.POST.get("to_programme", "")
        try:
            created = transfer.transfer_request_create(
                case_id=case_id,
                to_programme_id=int(to_programme) if to_programme.isdigit() else 0,
                by=request.user,
                reason=request.POST.get("reason", ""),
            )
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(
                request,
                _("Transfer to %(programme)s requested: its supervisors decide.") % {"programme": created.to_programme},
                messages.SUCCESS,
            )
        return HttpResponseRedirect(case_url)

    def relative_contact_view(self, request, case_id):
        """ "Add a relative contacted" on the case page: one family-tracing record on the
        case's housing stage, through ``programmes.details.detail_save``."""
        from programmes import details
        from programmes.models import StageKind

        case_url = reverse("admin:casework_case_change", args=[case_id])
        if request.method != "POST":
            return HttpResponseRedirect(case_url)
        if not self.get_queryset(request).filter(pk=case_id).exists():
            raise Http404
        if not request.user.has_perm("programmes.add_relativecontact"):
            raise Http404
        stage = (
            stage_visible_to(request.user)
            .filter(enrolment__case_id=case_id, stage_type__kind=StageKind.HOUSING)
            .order_by("stage_type__position", "id")
            .first()
        )
        form = RelativeContactForm(request.POST, prefix="tracing")
        if stage is None or not form.is_valid():
            errors = form.errors.get_json_data() if stage is not None else {}
            text = "; ".join(
                f"{form.fields[name].label if name in form.fields else ''}: {' '.join(e['message'] for e in found)}"
                for name, found in errors.items()
            )
            self.message_user(request, text or _("This case has no housing stage."), messages.ERROR)
            return HttpResponseRedirect(case_url)
        contact = form.save(commit=False)
        contact.stage = stage
        try:
            details.detail_save(detail=contact, by=request.user)
        except (DomainError, ValidationError) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self.message_user(request, text, messages.ERROR)
        else:
            self.message_user(request, _("Relative contacted: recorded."), messages.SUCCESS)
        return HttpResponseRedirect(case_url)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        overview = None
        if object_id and str(object_id).isdigit():
            overview = case_overview(
                case_id=int(object_id), user=request.user, visible_cases=self.get_queryset(request)
            )
        extra_context = {
            **(extra_context or {}),
            "overview": overview,
            "relative_contact_form": RelativeContactForm(prefix="tracing"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def stage_action_view(self, request, case_id, stage_id, action):
        """A stage button on the case page: one workflow transition, refusals shown as messages."""
        from programmes.models import StageRecord
        from programmes.workflow import ACTION_PAST, STAGE_ACTIONS, TRANSITIONS

        case_url = reverse("admin:casework_case_change", args=[case_id])
        if request.method != "POST" or action not in STAGE_ACTIONS:
            return HttpResponseRedirect(case_url)
        stage = (
            StageRecord.objects.filter(pk=stage_id, enrolment__case__in=self.get_queryset(request).filter(pk=case_id))
            .select_related("stage_type")
            .first()
        )
        if stage is None or not self.has_change_permission(request):
            raise Http404
        kwargs = {"stage_id": stage.pk, "by": request.user}
        if TRANSITIONS[action].needs_note:
            kwargs["outcome" if action == "complete" else "reason"] = request.POST.get("note", "")
        version = request.POST.get("version")
        if version and version.isdigit():
            kwargs["expected_version"] = int(version)
        try:
            STAGE_ACTIONS[action](**kwargs)
        except (DomainError, ValidationError) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self.message_user(request, f"{stage.stage_type}: {text}", messages.ERROR)
        else:
            self.message_user(request, f"{stage.stage_type}: {ACTION_PAST[action]}.", messages.SUCCESS)
        return HttpResponseRedirect(case_url)

    @admin.action(
        description=_("Record the centre exit today for the whole family of each selected case"), permissions=["change"]
    )
    def record_family_centre_exit(self, request, queryset):
        """All of the families or none (``programmes.services.centre_exit_record``): a blocked
        centre stage anywhere refuses the whole exit, naming the blocked cases by reference."""
        families = queryset.exclude(family__isnull=True).values("family_id")
        cases = self.get_queryset(request).filter(Q(family_id__in=families) | Q(pk__in=queryset.values("pk")))
        try:
            done = programme_services.centre_exit_record(
                case_ids=list(cases.values_list("pk", flat=True)), by=request.user
            )
        except (DomainError, ValidationError) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self.message_user(request, _("Nothing recorded: %(reason)s") % {"reason": text}, messages.ERROR)
            return
        if done:
            self.message_user(
                request, f"Centre exit recorded for {len(done)} case(s): {', '.join(sorted(done))}.", messages.SUCCESS
            )
        else:
            self.message_user(request, _("No one in these families is in the centre."), messages.WARNING)

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for instance in instances:
            if isinstance(instance, CaseNote) and not instance.author_id:
                instance.author = request.user
            if isinstance(instance, Referral) and instance._state.adding:
                services.referral_create(referral=instance, by=request.user)
            else:
                instance.save()
        for deleted in formset.deleted_objects:
            deleted.delete()
        formset.save_m2m()


class RelativeContactForm(forms.ModelForm):
    """The case page's family-tracing form (``CaseAdmin.relative_contact_view``)."""

    class Meta:
        model = RelativeContact
        fields = ["relative_name", "relationship", "method", "contacted_on", "outcome", "reason"]
        widgets = {"contacted_on": forms.DateInput(attrs={"type": "date"})}


@admin.register(Consent)
class ConsentAdmin(CrossScriptSearchMixin, ScopedModelAdmin, admin.ModelAdmin):
    person_path = "person__"
    visible_to = staticmethod(visibility.rows_for_consents)
    list_display = ["person", "agency", "purpose", "given_by", "given_on", "expires_on", "withdrawn_on"]
    list_filter = ["purpose", "given_by", "agency"]
    search_fields = ["person__given_name", "person__family_name"]
    autocomplete_fields = ["person"]
    readonly_fields = ["recorded_by", "recorded_at"]

    actions = ["withdraw_consent"]

    def has_delete_permission(self, request, obj=None):
        # A consent is withdrawn, never deleted: the referrals that rested on it keep their history.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        services.consent_record(consent=obj, by=request.user)

    @admin.action(
        description=_("Withdraw the selected consents today (ends the agencies' access at once)"),
        permissions=["change"],
    )
    def withdraw_consent(self, request, queryset):
        for consent in queryset:
            try:
                services.consent_withdraw(consent_id=consent.pk, by=request.user)
                self.message_user(request, _("%(consent)s: withdrawn.") % {"consent": consent}, messages.SUCCESS)
            except (DomainError, ValidationError) as exc:
                text = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
                self.message_user(request, f"{consent}: {' '.join(text)}", messages.ERROR)


@admin.register(Agency)
class AgencyAdmin(ScopedModelAdmin, admin.ModelAdmin):
    visible_to = selectors.agency_visible_to
    list_display = ["name", "code", "kind", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "code"]
    filter_horizontal = ["members"]


class MyReferralsFilter(MyWorkFilter):
    work = "referrals"
    options = {"pending": _("Awaiting the agency's answer")}


REFERRAL_ANSWERS = {"accept": services.referral_accept, "decline": services.referral_decline}


class ReferralAnswerForm(OpenCaseForm):
    """A pending referral's page records the agency's answer (given by letter or telephone)
    through the same service as the API: accepted or declined, with the reason (required
    to decline). The status itself is never typed."""

    answer = forms.ChoiceField(
        label=_("Agency's answer"),
        required=False,
        choices=[("", "---------"), ("accept", _("Accepted by the agency")), ("decline", _("Declined by the agency"))],
    )
    answer_reason = forms.CharField(
        label=_("Reason for the answer"),
        required=False,
        max_length=services.RESPONSE_REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required to decline: the referring caseworker reads it on the case page."),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("answer") == "decline" and not (cleaned.get("answer_reason") or "").strip():
            self.add_error("answer_reason", _("Say why the agency declines: the caseworker reads it."))
        return cleaned


@admin.register(Referral)
class ReferralAdmin(WhoColumns, ExportMixin, ScopedModelAdmin, admin.ModelAdmin):
    visible_to = staticmethod(visibility.rows_for_referrals)
    case_path = "case"
    form = ReferralAnswerForm
    list_display = [*WHO_COLUMNS, "agency", "purpose", "status", "referred_on", "responded_by", "responded_on"]
    list_display_links = ["agency"]
    list_filter = [MyReferralsFilter, "status", "purpose", "agency"]
    search_fields = ["case__reference"]
    raw_id_fields = ["case", "consent", "stage"]
    readonly_fields = ["referred_by", *REFERRAL_ANSWER_FIELDS]
    list_select_related = ["case", "agency", "responded_by"]

    def get_fields(self, request, obj=None):
        fields = ["case", "agency", "stage", "purpose", "consent", "note", "referred_on", "referred_by"]
        fields += REFERRAL_ANSWER_FIELDS
        if obj is not None and obj.status == ReferralStatus.PENDING:
            fields += ["answer", "answer_reason"]
        return fields

    def save_model(self, request, obj, form, change):
        if not change:
            services.referral_create(referral=obj, by=request.user)
            return
        super().save_model(request, obj, form, change)
        answer = form.cleaned_data.get("answer")
        if not answer:
            return
        try:
            REFERRAL_ANSWERS[answer](
                referral_id=obj.pk, by=request.user, reason=form.cleaned_data.get("answer_reason", "")
            )
        except (DomainError, ValidationError) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self.message_user(request, _("Answer not recorded: %(reason)s") % {"reason": text}, messages.ERROR)


@admin.action(description=_("Approve selected closure requests (cases without open work)"), permissions=["decide"])
def closure_approve(modeladmin, request, queryset):
    """Approves only requests whose case has no open work left: the others are decided on
    their page, which shows that work (``closure.case_closure_decide``)."""
    for closure_request in queryset.select_related("case"):
        try:
            closure.case_closure_decide(
                request_id=closure_request.pk, by=request.user, approve=True, open_work_acknowledged=False
            )
            modeladmin.message_user(
                request, _("%(reference)s: approved.") % {"reference": closure_request.case.reference}, messages.SUCCESS
            )
        except (DomainError, ValidationError) as exc:
            text = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            modeladmin.message_user(request, f"{closure_request.case.reference}: {' '.join(text)}", messages.ERROR)


class ClosureDecisionForm(forms.Form):
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required to reject: the caseworker reads it in the e-mail and on the case page."),
    )


@admin.register(ClosureRequest)
class ClosureRequestAdmin(WhoColumns, ScopedModelAdmin, admin.ModelAdmin):
    visible_to = staticmethod(visibility.rows_for_closure_requests)
    case_path = "case"
    list_display = [*WHO_COLUMNS, "status", "requested_by", "requested_at", "decided_by", "decided_at"]
    list_display_links = ["status"]
    list_filter = ["status"]
    search_fields = ["case__reference"]
    list_select_related = ["case", "requested_by", "decided_by"]
    raw_id_fields = ["case"]
    # The comment is the decider's: written on the decision page, never on the request.
    fields = ["case", "reason"]
    readonly_fields = ["requested_by", "requested_at", "status", "decided_by", "decided_at", "comment"]
    actions = [closure_approve]

    def has_decide_permission(self, request):
        # Supervisors decide; the service checks the programme of each case.
        from programmes.models import ProgrammeMembershipRole

        return is_administrator(request.user) or bool(
            programme_ids_for(request.user, role=ProgrammeMembershipRole.SUPERVISOR)
        )

    def save_model(self, request, obj, form, change):
        if change:
            return
        # The form has validated the request (model clean and constraints); a race
        # lost to a concurrent request ends as the same refusal.
        try:
            created = closure.case_closure_request(case_id=obj.case_id, by=request.user, reason=obj.reason)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        obj.pk = created.pk
        obj._state.adding = False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The decision page: the request, who it is about, the case's open work, and for
        a supervisor of the case's programme approve / reject with a comment (required to reject)."""
        obj = self.get_object(request, object_id) if str(object_id).isdigit() else None
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404
        case_url = reverse("admin:casework_case_change", args=[obj.case_id])
        may_decide = closure.may_decide(request.user, obj)
        form = ClosureDecisionForm(request.POST or None)
        if request.method == "POST" and may_decide and form.is_valid():
            approve = "approve" in request.POST
            try:
                closure.case_closure_decide(
                    request_id=obj.pk, by=request.user, approve=approve, comment=form.cleaned_data["comment"]
                )
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error("comment", message)
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return HttpResponseRedirect(request.path)
            else:
                done = _("Closure approved: the case is closed.") if approve else _("Closure rejected.")
                self.message_user(request, f"{obj.case.reference}: {done}", messages.SUCCESS)
                return HttpResponseRedirect(case_url)
        case = obj.case
        return TemplateResponse(
            request,
            "admin/casework/closurerequest/decide.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Closure of case %(reference)s") % {"reference": case.reference},
                "closure_request": obj,
                "case": case,
                "case_url": case_url,
                "open_work": closure.case_open_work(case),
                "may_decide": may_decide,
                "form": form,
                "original": obj,
            },
        )
