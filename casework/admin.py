"""Admin for people, families, operations, cases, consent, agencies and referrals.

Every change list is scoped by the same selectors as the API, so a caseworker
sees only their programmes' people.
"""

from django.contrib import admin
from django.db.models import Count

from django.contrib import messages
from django.core.exceptions import ValidationError

from casework import closure, selectors
from casework.errors import DomainError
from casework.models import (
    Agency,
    Case,
    CaseNote,
    CaseStatusChange,
    ClosureRequest,
    Consent,
    Family,
    FamilyMembership,
    Person,
    PersonIdentifier,
    PersonName,
    Referral,
    RepatriationOperation,
)


class ScopedAdminMixin:
    """Limits the admin's queryset (lists, change pages, deletes) to what the user may see."""

    #: a selector ``f(user) -> QuerySet`` of the rows the user may see.
    visible_to = None

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        visible = type(self).visible_to
        if visible is None:
            return queryset
        return queryset.filter(pk__in=visible(request.user).values("pk"))


class PersonNameInline(admin.TabularInline):
    model = PersonName
    extra = 1


class PersonIdentifierInline(admin.TabularInline):
    model = PersonIdentifier
    extra = 0


class FamilyMembershipInline(admin.TabularInline):
    model = FamilyMembership
    extra = 0
    autocomplete_fields = ["person"]


class PersonFamilyInline(admin.TabularInline):
    model = FamilyMembership
    fk_name = "person"
    extra = 0
    autocomplete_fields = ["family"]
    verbose_name_plural = "families"


@admin.register(Person)
class PersonAdmin(ScopedAdminMixin, admin.ModelAdmin):
    visible_to = selectors.person_visible_to
    list_display = ["full_name", "sex", "date_of_birth", "date_of_birth_estimated", "nationality"]
    list_filter = ["sex", "date_of_birth_estimated", "nationality"]
    search_fields = ["given_name", "family_name", "patronymic", "names__full_name", "cases__reference"]
    inlines = [PersonNameInline, PersonIdentifierInline, PersonFamilyInline]
    fieldsets = [
        (None, {"fields": [("given_name", "patronymic", "family_name"), "sex"]}),
        ("Birth", {"fields": [("date_of_birth", "date_of_birth_estimated"), "place_of_birth"]}),
        ("Nationality and languages", {"fields": ["nationality", "languages"]}),
    ]


@admin.register(Family)
class FamilyAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "label", "operation", "member_count"]
    list_filter = ["operation"]
    search_fields = ["reference", "label", "persons__given_name", "persons__family_name", "persons__names__full_name"]
    inlines = [FamilyMembershipInline]

    @staticmethod
    def visible_to(user):
        from casework.roles import is_administrator

        if is_administrator(user):
            return Family.objects.all()
        return Family.objects.filter(id__in=selectors.case_visible_to(user).values("family_id"))

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(ordering="member_count", description="members")
    def member_count(self, obj):
        return obj.member_count


@admin.register(RepatriationOperation)
class RepatriationOperationAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "operation_date", "origin_country", "origin_camp"]
    list_filter = ["origin_country"]
    search_fields = ["name", "code", "origin_camp"]
    date_hierarchy = "operation_date"


class CaseNoteInline(admin.StackedInline):
    model = CaseNote
    extra = 1
    fields = ["body", "author", "created_at"]
    readonly_fields = ["author", "created_at"]

    def has_change_permission(self, request, obj=None):
        # Notes are a record: they are added, not rewritten.
        return False


class ReferralInline(admin.TabularInline):
    model = Referral
    extra = 0
    fields = ["agency", "purpose", "status", "consent", "stage", "referred_on", "referred_by"]
    readonly_fields = ["referred_by"]
    raw_id_fields = ["consent", "stage"]


class CaseStatusChangeInline(admin.TabularInline):
    model = CaseStatusChange
    extra = 0
    fields = ["at", "from_status", "to_status", "by", "note"]
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "status history"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Case)
class CaseAdmin(ScopedAdminMixin, admin.ModelAdmin):
    visible_to = selectors.case_visible_to
    list_display = ["reference", "person", "caseworker", "status", "risk_level", "operation", "arrival_date"]
    list_filter = ["status", "risk_level", "operation", "caseworker", "enrolments__programme"]
    search_fields = [
        "reference",
        "person__given_name",
        "person__family_name",
        "person__names__full_name",
    ]
    list_select_related = ["person", "caseworker", "operation"]
    autocomplete_fields = ["person", "family"]
    date_hierarchy = "arrival_date"
    inlines = [CaseNoteInline, ReferralInline, CaseStatusChangeInline]
    # Closing and reopening go through the closure workflow, never a plain edit.
    readonly_fields = ["status", "closed_on"]

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for instance in instances:
            if isinstance(instance, CaseNote) and not instance.author_id:
                instance.author = request.user
            if isinstance(instance, Referral) and not instance.referred_by_id:
                instance.referred_by = request.user
        formset.save()


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ["person", "agency", "purpose", "given_by", "given_on", "expires_on", "withdrawn_on"]
    list_filter = ["purpose", "given_by", "agency"]
    search_fields = ["person__given_name", "person__family_name", "person__names__full_name"]
    autocomplete_fields = ["person"]
    readonly_fields = ["recorded_by", "recorded_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(person__in=selectors.person_visible_to(request.user).values("pk"))

    def save_model(self, request, obj, form, change):
        if not obj.recorded_by_id:
            obj.recorded_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "kind", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "code"]
    filter_horizontal = ["members"]


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    list_display = ["case", "agency", "purpose", "status", "referred_on"]
    list_filter = ["status", "purpose", "agency"]
    search_fields = ["case__reference"]
    raw_id_fields = ["case", "consent", "stage"]
    readonly_fields = ["referred_by"]
    list_select_related = ["case", "agency"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(case__in=selectors.case_visible_to(request.user).values("pk"))

    def save_model(self, request, obj, form, change):
        if not obj.referred_by_id:
            obj.referred_by = request.user
        super().save_model(request, obj, form, change)


def _closure_decision(approve: bool, label: str):
    def decide(modeladmin, request, queryset):
        comment = "" if approve else "Rejected in the admin; see the case notes."
        for closure_request in queryset:
            try:
                closure.case_closure_decide(request_id=closure_request.pk, by=request.user, approve=approve, comment=comment)
                modeladmin.message_user(request, f"{closure_request.case}: {label.lower()}d.", messages.SUCCESS)
            except (DomainError, ValidationError) as exc:
                text = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
                modeladmin.message_user(request, f"{closure_request.case}: {' '.join(text)}", messages.ERROR)

    decide.__name__ = f"closure_{'approve' if approve else 'reject'}"
    return admin.action(description=f"{label} selected closure requests")(decide)


@admin.register(ClosureRequest)
class ClosureRequestAdmin(admin.ModelAdmin):
    list_display = ["case", "status", "requested_by", "requested_at", "decided_by", "decided_at"]
    list_filter = ["status"]
    search_fields = ["case__reference"]
    list_select_related = ["case", "requested_by", "decided_by"]
    raw_id_fields = ["case"]
    readonly_fields = ["requested_by", "requested_at", "status", "decided_by", "decided_at"]
    actions = [_closure_decision(True, "Approve"), _closure_decision(False, "Reject")]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(case__in=selectors.case_visible_to(request.user).values("pk"))

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return [*self.readonly_fields, "case", "reason", "comment"]
        return self.readonly_fields

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
