"""Admin for programmes, stage catalogues, enrolments, stages and follow-ups.

A thin door: every write that matters calls one service, as the API does.
Enrolling goes through ``enrolment_create`` (the stage plan generated as through
any other door), ending an enrolment through ``enrolment_end`` (an action), a
programme's save through ``programme_save`` (its report schedule), a stage's
status only through the workflow's transition actions, and a follow-up's outcome,
on its own page or its stage's, through ``workflow.follow_up_save``.
"""

import base64

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from backoffice.scoping import OpenCaseForm, ScopedInlineMixin, ScopedModelAdmin, staff_list_filter
from backoffice.exports import ExportMixin
from backoffice.who import WHO_COLUMNS, ReturnToCaseMixin, WhoColumns, with_who
from core.errors import DomainError
from backoffice.overview import MY_WORK
from core.roles import is_administrator
from notifications.delivery import notifications_claim
from programmes import details, reports, rules, selectors, services, workflow
from programmes.models import (
    AccommodationStay,
    DocumentRequest,
    EmploymentPlacement,
    Enrolment,
    EnrolmentStatus,
    FollowUp,
    HousingPlacement,
    RelativeContact,
    Programme,
    ProgrammeMembership,
    PsychologicalSession,
    SchoolPlacement,
    ProgrammeMembershipRole,
    StageRecord,
    StageReport,
    StageStatus,
    StageTransition,
    StageType,
)


def _may_see_reports(user, programme) -> bool:
    return (
        is_administrator(user)
        or programme.memberships.filter(user=user, role=ProgrammeMembershipRole.SUPERVISOR).exists()
    )


class ProgrammeMembershipInline(ScopedInlineMixin, admin.TabularInline):
    model = ProgrammeMembership
    extra = 0
    autocomplete_fields = ["user"]


class StageTypeInline(ScopedInlineMixin, admin.TabularInline):
    model = StageType
    extra = 0
    fields = [
        "position",
        "code",
        "name",
        "kind",
        "applies_to",
        "min_age_years",
        "max_age_years",
        "start_offset_days",
        "default_duration_days",
        "follow_up_interval_days",
        "is_active",
    ]


@admin.register(Programme)
class ProgrammeAdmin(ScopedModelAdmin, admin.ModelAdmin):
    visible_to = selectors.programme_visible_to
    list_display = ["name", "code", "country", "time_zone", "report_frequency", "is_active", "report_links"]
    search_fields = ["name", "code"]
    inlines = [ProgrammeMembershipInline, StageTypeInline]
    actions = ["install_standard_catalogue", "send_report_now"]

    def get_urls(self):
        return [
            path(
                "<int:programme_id>/report-preview/",
                self.admin_site.admin_view(self.report_preview),
                name="programmes_programme_report_preview",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=_("report"))
    def report_links(self, obj):
        url = reverse("admin:programmes_programme_report_preview", args=[obj.pk])
        return format_html('<a href="{}">Preview</a>', url)

    def report_preview(self, request, programme_id):
        """The report as supervisors would receive it now, rendered in the browser (nothing stored or sent)."""
        programme = self.get_queryset(request).filter(pk=programme_id).first()
        if programme is None or not _may_see_reports(request.user, programme):
            raise Http404
        try:
            period = (
                reports.period_parse(request.GET["period"])
                if request.GET.get("period")
                else reports.period_last_complete(programme, programme.report_frequency)
            )
        except ValueError as exc:
            messages.error(request, str(exc))
            period = reports.period_last_complete(programme, programme.report_frequency)
        numbers = reports.report_build(programme=programme, period=period)
        _subject, _text, html = reports.report_render(numbers)
        chart = base64.b64encode(reports.report_chart(numbers)).decode()
        if request.GET.get("as") == "email":
            # The e-mail exactly as supervisors would receive it.
            response = HttpResponse(html.replace("cid:stage-funnel", f"data:image/png;base64,{chart}"))
            response["Cache-Control"] = "no-store"
            return response
        # For the supervisor in the admin: the same numbers, each case a link, each blocked
        # stage with its reason (which the e-mail, sent by reference only, leaves out).
        visible = selectors.stage_visible_to(request.user).filter(enrolment__programme=programme)
        overdue_refs = [row["case"] for row in numbers["overdue"]["stages"]]
        case_ids = dict(
            visible.filter(enrolment__case__reference__in=overdue_refs)
            .values_list("enrolment__case__reference", "enrolment__case_id")
            .distinct()
        )
        blocked = with_who(
            visible.filter(rules.stage_pending_q(), status=StageStatus.BLOCKED).select_related("stage_type"),
            request.user,
            case_path="enrolment__case",
        ).order_by("due_date", "pk")[: reports.LIST_LIMIT]
        response = TemplateResponse(
            request,
            "admin/programmes/report_preview.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Stage report %(period)s: preview") % {"period": numbers["period"]["label"]},
                "programme": programme,
                "n": numbers,
                "chart": chart,
                "overdue": [{**row, "case_id": case_ids.get(row["case"])} for row in numbers["overdue"]["stages"]],
                "blocked": list(blocked),
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    def has_report_permission(self, request):
        from programmes.models import ProgrammeMembershipRole

        return is_administrator(request.user) or bool(
            selectors.programme_visible_to(request.user)
            .filter(memberships__user=request.user, memberships__role=ProgrammeMembershipRole.SUPERVISOR)
            .exists()
        )

    @admin.action(description=_("Send the last complete period's report now"), permissions=["report"])
    def send_report_now(self, request, queryset):
        for programme in queryset:
            if not _may_see_reports(request.user, programme):
                self.message_user(
                    request, f"{programme}: only its supervisors and administrators send reports.", messages.ERROR
                )
                continue
            period = reports.period_last_complete(programme, programme.report_frequency)
            report = reports.report_send(programme=programme, period=period)
            notifications_claim()
            recipients = reports.report_recipients(programme).count()
            self.message_user(
                request, f"{programme} {report.period}: queued for {recipients} supervisor(s).", messages.SUCCESS
            )

    def save_model(self, request, obj, form, change):
        services.programme_save(programme=obj, by=request.user)

    @admin.action(description=_("Install or update the standard stage catalogue"), permissions=["change"])
    def install_standard_catalogue(self, request, queryset):
        for programme in queryset:
            services.stage_catalogue_install(programme=programme)
        self.message_user(
            request, _("Standard catalogue installed in %(count)s programme(s).") % {"count": queryset.count()}
        )


@admin.register(StageType)
class StageTypeAdmin(ScopedModelAdmin, admin.ModelAdmin):
    visible_to = selectors.stage_type_visible_to
    list_display = ["name", "programme", "code", "kind", "applies_to", "min_age_years", "max_age_years"]
    list_filter = ["programme", "kind", "applies_to"]
    search_fields = ["name", "code"]


class StageRecordInline(ScopedInlineMixin, admin.TabularInline):
    model = StageRecord
    extra = 0
    fields = ["stage_type", "status", "planned_start", "due_date", "started_on", "completed_on", "responsible_user"]
    # Status and its dates move only through the workflow (the stage page's actions,
    # the case page's buttons): an edit here would leave no transition row.
    readonly_fields = ["stage_type", "status", "started_on", "completed_on"]
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        # Stage plans come from the catalogue, through enrolment.
        return False


@admin.register(Enrolment)
class EnrolmentAdmin(ScopedModelAdmin, admin.ModelAdmin):
    visible_to = selectors.enrolment_visible_to
    form = OpenCaseForm
    list_display = ["case", "programme", "status", "enrolled_on"]
    list_filter = ["programme", "status"]
    search_fields = ["case__reference"]
    raw_id_fields = ["case"]
    # An enrolment ends only through the actions below (``enrolment_end``), which end
    # its stages and follow-ups with it; never by editing its status.
    readonly_fields = ["status", "ended_on", "enrolled_by"]
    list_select_related = ["case", "programme"]
    inlines = [StageRecordInline]
    actions = ["enrolment_complete", "enrolment_withdraw"]

    def _end(self, request, queryset, status: str, done: str):
        for enrolment in queryset.select_related("case"):
            try:
                services.enrolment_end(enrolment_id=enrolment.pk, status=status, by=request.user)
            except (DomainError, ValidationError) as exc:
                text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, f"{enrolment.case.reference}: {text}", messages.ERROR)
            else:
                self.message_user(request, f"{enrolment.case.reference}: {done}.", messages.SUCCESS)

    @admin.action(
        description=_("Complete the selected enrolments today (open stages discontinued, follow-ups cancelled)"),
        permissions=["change"],
    )
    def enrolment_complete(self, request, queryset):
        self._end(request, queryset, EnrolmentStatus.COMPLETED, _("enrolment completed"))

    @admin.action(
        description=_("Withdraw the selected enrolments today (open stages discontinued, follow-ups cancelled)"),
        permissions=["change"],
    )
    def enrolment_withdraw(self, request, queryset):
        self._end(request, queryset, EnrolmentStatus.WITHDRAWN, _("enrolment withdrawn"))

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.pk:
            # The stage plan was generated from this programme's catalogue (reports count a
            # programme's stages through its stage types): a new programme is a new enrolment.
            return [*self.readonly_fields, "case", "programme"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.enrolment_create(
            case=obj.case, programme=obj.programme, by=request.user, enrolled_on=obj.enrolled_on
        )
        # The admin goes on to save inlines against this instance.
        obj.pk = created.pk
        obj._state.adding = False
        obj.enrolled_by = created.enrolled_by


class DetailInline(ScopedInlineMixin, admin.TabularInline):
    """A stage detail on its stage's page. Every row is saved through
    ``programmes.details`` (``StageRecordAdmin.save_formset``), which moves the stage
    where the data says; the fields only a detail's actions change are read-only here."""

    extra = 0

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *details.ACTION_FIELDS.get(self.model, ())]


class AccommodationStayInline(DetailInline):
    model = AccommodationStay


class PsychologicalSessionInline(DetailInline):
    model = PsychologicalSession


class SchoolPlacementForm(forms.ModelForm):
    """A current placement ends with the day the child left and why
    (``programmes.details.school_placement_end``); it is never deleted."""

    end_on = forms.DateField(label=_("End on"), required=False, widget=admin.widgets.AdminDateWidget)
    end_reason = forms.CharField(label=_("Reason for leaving"), required=False, max_length=200)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("end_on") and not (cleaned.get("end_reason") or "").strip():
            self.add_error("end_reason", _("Say why the placement ends."))
        if (cleaned.get("end_reason") or "").strip() and not cleaned.get("end_on"):
            self.add_error("end_on", _("Give the day the placement ends."))
        return cleaned


class SchoolPlacementInline(DetailInline):
    model = SchoolPlacement
    form = SchoolPlacementForm
    fields = [
        "institution",
        "level",
        "grade",
        "language_support",
        "enrolled_on",
        "left_on",
        "left_reason",
        "end_on",
        "end_reason",
    ]
    can_delete = False


DOCUMENT_ACTIONS = {
    "submit": _("Submitted to the registry"),
    "issue": _("Issued (give the day and the number)"),
    "refuse": _("Refused (give the reason)"),
}


class DocumentRequestForm(forms.ModelForm):
    """A request moves by its actions only (``programmes.details.document_request_*``):
    its status, issue day and number are never typed over."""

    move = forms.ChoiceField(label=_("Record"), required=False, choices=[("", "---------"), *DOCUMENT_ACTIONS.items()])
    move_on = forms.DateField(label=_("Issued on"), required=False, widget=admin.widgets.AdminDateWidget)
    move_number = forms.CharField(label=_("Document number"), required=False, max_length=100)
    move_reason = forms.CharField(label=_("Reason for the refusal"), required=False, max_length=300)

    def clean(self):
        cleaned = super().clean()
        move = cleaned.get("move")
        if move == "issue" and not cleaned.get("move_on"):
            self.add_error("move_on", _("Give the day the document was issued."))
        if move == "refuse" and not (cleaned.get("move_reason") or "").strip():
            self.add_error("move_reason", _("Say why the document was refused."))
        return cleaned


class DocumentRequestInline(DetailInline):
    model = DocumentRequest
    form = DocumentRequestForm
    fields = [
        "document_type",
        "requested_on",
        "status",
        "issued_on",
        "number",
        "note",
        "move",
        "move_on",
        "move_number",
        "move_reason",
    ]
    can_delete = False


class HousingPlacementInline(DetailInline, admin.StackedInline):
    model = HousingPlacement
    template = admin.StackedInline.template


class RelativeContactInline(DetailInline):
    """Family tracing on the housing stage: each relative approached, how, when and what they answered."""

    model = RelativeContact
    fields = ["relative_name", "relationship", "method", "contacted_on", "outcome", "reason"]
    can_delete = False


class EmploymentPlacementInline(DetailInline):
    model = EmploymentPlacement


def _detail_action(form, *, by) -> None:
    """The action a detail's row asks for (an end of placement, a document's step), if any."""
    detail = form.instance
    data = form.cleaned_data
    if isinstance(detail, SchoolPlacement) and data.get("end_on"):
        details.school_placement_end(placement_id=detail.pk, by=by, left_on=data["end_on"], reason=data["end_reason"])
    elif isinstance(detail, DocumentRequest) and data.get("move"):
        move = data["move"]
        if move == "submit":
            details.document_request_submit(request_id=detail.pk, by=by)
        elif move == "issue":
            details.document_request_issue(
                request_id=detail.pk, by=by, issued_on=data["move_on"], number=data.get("move_number", "")
            )
        else:
            details.document_request_refuse(request_id=detail.pk, by=by, reason=data["move_reason"])


def _details_save(modeladmin, request, formset) -> None:
    """Each changed detail of a stage's page through ``programmes.details`` (which moves the
    stage), then the action its row asks for; a refusal is a message naming the row."""
    # What the admin's history message reads (``construct_change_message``).
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    for form in formset.forms:
        if not hasattr(form, "cleaned_data") or not form.cleaned_data or form in formset.deleted_forms:
            continue
        try:
            with transaction.atomic():
                if form.has_changed():
                    adding = form.instance.pk is None
                    detail = details.detail_save(detail=form.save(commit=False), by=request.user)
                    if adding:
                        formset.new_objects.append(detail)
                    else:
                        formset.changed_objects.append((detail, form.changed_data))
                if form.instance.pk is not None:
                    _detail_action(form, by=request.user)
        except (DomainError, ValidationError) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            modeladmin.message_user(
                request,
                _("%(detail)s: not recorded: %(reason)s")
                % {"detail": formset.model._meta.verbose_name, "reason": text},
                messages.ERROR,
            )
    # Only the kinds that allow it offer a delete box (not school placements nor document requests).
    for deleted in formset.deleted_forms:
        if deleted.instance.pk is not None and formset.can_delete:
            formset.deleted_objects.append(deleted.instance)
            deleted.instance.delete()


class FollowUpInline(ScopedInlineMixin, admin.TabularInline):
    """A stage's follow-ups. An outcome recorded here goes through the workflow
    (``StageRecordAdmin.save_formset``), which schedules the next one."""

    model = FollowUp
    extra = 0
    fields = ["kind", "due_date", "assignee", "done_on", "outcome", "cancelled_on"]
    readonly_fields = ["cancelled_on"]
    # Follow-ups are cancelled by the workflow, never deleted.
    can_delete = False


def _follow_ups_save(modeladmin, request, follow_ups) -> None:
    """Each follow-up of an admin form through the workflow; a refusal is a message."""
    for follow_up in follow_ups:
        try:
            workflow.follow_up_save(follow_up=follow_up, by=request.user)
        except (DomainError, ValidationError) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            modeladmin.message_user(
                request, f"Follow-up due {follow_up.due_date}: outcome not recorded: {text}", messages.ERROR
            )


# Which detail inlines a stage of each kind shows.
DETAIL_INLINES = {
    "accommodation": [AccommodationStayInline],
    "psychological": [PsychologicalSessionInline],
    "schooling": [SchoolPlacementInline],
    "documents": [DocumentRequestInline],
    "housing": [HousingPlacementInline, RelativeContactInline],
    "employment": [EmploymentPlacementInline],
}


class StageTransitionInline(ScopedInlineMixin, admin.TabularInline):
    model = StageTransition
    extra = 0
    fields = ["at", "action", "from_status", "to_status", "by", "note"]
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = _("history")

    def has_add_permission(self, request, obj=None):
        return False


class TransitionNoteForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=False)


def _transition_action(action: str, label: str):
    """An admin action that runs one workflow transition on each selected stage.

    Transitions that need an outcome or a reason ask for it on an intermediate page.
    Refusals are shown as messages; nothing else changes.
    """
    needs_note = workflow.TRANSITIONS[action].needs_note

    def run(modeladmin, request, queryset):
        if needs_note and "apply" not in request.POST:
            return TemplateResponse(
                request,
                "admin/programmes/stage_transition.html",
                {
                    **modeladmin.admin_site.each_context(request),
                    "title": label,
                    "action": f"stage_{action}",
                    "stages": queryset.select_related("stage_type", "enrolment__case"),
                    "form": TransitionNoteForm(),
                    "note_label": "Outcome" if action == "complete" else "Reason",
                    "opts": modeladmin.model._meta,
                },
            )
        note = request.POST.get("note", "")
        done = 0
        for stage in queryset.select_related("enrolment__case"):
            kwargs = {"stage_id": stage.pk, "by": request.user}
            if needs_note:
                kwargs["outcome" if action == "complete" else "reason"] = note
            try:
                workflow.STAGE_ACTIONS[action](**kwargs)
                done += 1
            except (DomainError, ValidationError) as exc:
                text = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
                modeladmin.message_user(
                    request, f"{stage.enrolment.case.reference} — {stage}: {' '.join(text)}", messages.ERROR
                )
        if done:
            modeladmin.message_user(
                request, _("%(action)s: %(count)s stage(s).") % {"action": label, "count": done}, messages.SUCCESS
            )
        return None

    run.__name__ = f"stage_{action}"
    return admin.action(description=label, permissions=["change"])(run)


class MyWorkFilter(admin.SimpleListFilter):
    """The dashboard's links: my overdue follow-ups, my stages overdue, due this week or blocked.

    The same querysets as the dashboard (``backoffice.overview.MY_WORK``), each row judged
    on its own programme's today (``programmes.rules``).
    """

    title = _("my work")
    parameter_name = "mine"
    work = ""  # the key of MY_WORK: "stages" or "follow_ups"
    options: dict[str, str] = {}

    def lookups(self, request, model_admin):
        return list(self.options.items())

    def queryset(self, request, queryset):
        if self.value() in self.options:
            mine = MY_WORK[self.work][self.value()](request.user)
            return queryset.filter(pk__in=mine.values("pk"))
        return queryset


class OverdueRowsFilter(admin.SimpleListFilter):
    """Overdue stages or follow-ups of anyone the user sees (``programmes.rules``), for the
    supervisor's desk's counts."""

    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue"))]

    def queryset(self, request, queryset):
        if self.value() != "yes":
            return queryset
        overdue = rules.stage_overdue_q() if queryset.model is StageRecord else rules.follow_up_overdue_q()
        return queryset.filter(overdue)


StageCaseworkerFilter = staff_list_filter("enrolment__case__caseworker", _("caseworker"), parameter="caseworker")
FollowUpCaseworkerFilter = staff_list_filter(
    "stage__enrolment__case__caseworker", _("caseworker"), parameter="caseworker"
)


class MyStagesFilter(MyWorkFilter):
    work = "stages"
    options = {"overdue": "Overdue", "due_this_week": "Due this week", "blocked": "Blocked"}


class MyFollowUpsFilter(MyWorkFilter):
    work = "follow_ups"
    options = {"overdue": "Overdue"}


@admin.register(StageRecord)
class StageRecordAdmin(ReturnToCaseMixin, WhoColumns, ExportMixin, ScopedModelAdmin, admin.ModelAdmin):
    visible_to = selectors.stage_visible_to
    case_path = "enrolment__case"
    list_display = [
        *WHO_COLUMNS,
        "stage_type",
        "status",
        "status_reason",
        "due_date",
        "responsible_user",
        "enrolment__programme",
    ]
    list_display_links = ["stage_type"]
    list_filter = [
        MyStagesFilter,
        OverdueRowsFilter,
        "status",
        "stage_type__kind",
        "enrolment__programme",
        StageCaseworkerFilter,
    ]
    search_fields = ["enrolment__case__reference"]
    list_select_related = ["enrolment__case", "enrolment__programme", "stage_type", "responsible_user"]
    # Status and its dates move only through the workflow actions.
    readonly_fields = [
        "enrolment",
        "stage_type",
        "status",
        "started_on",
        "completed_on",
        "outcome",
        "status_reason",
        "version",
        "updated_at",
    ]
    date_hierarchy = "due_date"
    actions = [
        _transition_action("start", "Start"),
        _transition_action("complete", "Complete (with outcome)"),
        _transition_action("block", "Block (with reason)"),
        _transition_action("unblock", "Unblock"),
        _transition_action("discontinue", "Discontinue (with reason)"),
        _transition_action("reopen", "Reopen (with reason)"),
    ]

    def get_inline_instances(self, request, obj=None):
        inline_classes = DETAIL_INLINES.get(obj.stage_type.kind, []) if obj else []
        return [
            inline(self.model, self.admin_site) for inline in [*inline_classes, FollowUpInline, StageTransitionInline]
        ]

    def save_formset(self, request, form, formset, change):
        if formset.model in details.DETAIL_MODELS:
            _details_save(self, request, formset)
            return None
        if formset.model is not FollowUp:
            return super().save_formset(request, form, formset, change)
        _follow_ups_save(self, request, formset.save(commit=False))
        return None

    def has_add_permission(self, request):
        return False


AssigneeFilter = staff_list_filter("assignee", "assignee")


class StageKindFilter(admin.ChoicesFieldListFilter):
    """The kind of the follow-up's stage, titled apart from the follow-up's own kind."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = _("stage kind")


@admin.register(FollowUp)
class FollowUpAdmin(ReturnToCaseMixin, WhoColumns, ExportMixin, ScopedModelAdmin, admin.ModelAdmin):
    visible_to = selectors.follow_up_visible_to
    case_path = "stage__enrolment__case"
    list_display = [*WHO_COLUMNS, "kind", "stage_name", "due_date", "assignee", "done_on"]
    list_display_links = ["kind"]
    list_filter = [
        MyFollowUpsFilter,
        OverdueRowsFilter,
        "kind",
        ("stage__stage_type__kind", StageKindFilter),
        AssigneeFilter,
        FollowUpCaseworkerFilter,
    ]
    search_fields = ["stage__enrolment__case__reference"]
    raw_id_fields = ["stage"]
    list_select_related = ["stage__stage_type", "stage__enrolment__case", "assignee"]
    date_hierarchy = "due_date"
    readonly_fields = ["cancelled_on"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.pk:
            # A follow-up stays on its stage; once done or cancelled its outcome is history.
            history = [] if obj.is_open else ["done_on", "outcome"]
            return [*self.readonly_fields, "stage", *history]
        return self.readonly_fields

    @admin.display(description=_("stage"), ordering="stage__stage_type__position")
    def stage_name(self, obj):
        return obj.stage.stage_type.display_name

    def save_model(self, request, obj, form, change):
        # The outcome goes through the workflow, which also schedules the next follow-up.
        _follow_ups_save(self, request, [obj])
        if obj.pk:
            obj.refresh_from_db()


@admin.register(StageReport)
class StageReportAdmin(ScopedModelAdmin, admin.ModelAdmin):
    """Reports as they were sent, for supervisors and auditors. Read-only."""

    list_display = ["programme", "period", "period_start", "period_end", "created_at", "view_link"]
    list_filter = ["programme", "period_kind"]
    fields = ["programme", "period", "period_start", "period_end", "created_at", "subject", "numbers", "view_link"]
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("programme")
        if is_administrator(request.user):
            return queryset
        return queryset.filter(
            programme__memberships__user=request.user, programme__memberships__role=ProgrammeMembershipRole.SUPERVISOR
        ).distinct()

    def get_urls(self):
        return [
            path(
                "<int:report_id>/email/",
                self.admin_site.admin_view(self.email_view),
                name="programmes_stagereport_email",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=_("e-mail as sent"))
    def view_link(self, obj):
        return format_html('<a href="{}">Open</a>', reverse("admin:programmes_stagereport_email", args=[obj.pk]))

    def email_view(self, request, report_id):
        report = self.get_queryset(request).filter(pk=report_id).first()
        if report is None:
            raise Http404
        chart = base64.b64encode(bytes(report.chart_png)).decode()
        response = HttpResponse(report.html.replace("cid:stage-funnel", f"data:image/png;base64,{chart}"))
        response["Cache-Control"] = "no-store"
        return response

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
