"""Admin pages of transfers between programmes (``lifecycle.transfer``).

A transfer is asked for on the case page (``CaseAdmin.transfer_request_view``). Its own
page is the decision page for a supervisor of the receiving programme (how the stage plan
is taken over, who takes the case, a comment) and, once accepted, the sending programme's
read-only record of what it handed over and when. The list shows the requests to and from
the user's programmes, by case reference: the sending staff no longer see the case itself.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from django.utils.dateparse import parse_datetime

from backoffice.scoping import ScopedModelAdmin
from casework.models import ConsentPurpose
from casework.selectors import staff_cases_of
from core.errors import DomainError
from core.roles import is_administrator
from lifecycle import transfer
from lifecycle.models import TransferCarryOver, TransferRequest, TransferStatus
from programmes.models import StageStatus


class TransferDecisionForm(forms.Form):
    carry_over = forms.ChoiceField(
        label=_("Stage plan"),
        choices=TransferCarryOver.choices,
        initial=TransferCarryOver.CARRY_OPEN,
        widget=forms.RadioSelect,
        required=False,
    )
    caseworker = forms.ModelChoiceField(
        label=_("Caseworker"),
        queryset=None,
        required=False,
        help_text=_("Who takes the case over in the receiving programme; you, if no one is chosen."),
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required to refuse."),
    )

    def __init__(self, *args, transfer_request: TransferRequest, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["caseworker"].queryset = transfer.receiving_caseworkers(transfer_request)


def record_for_display(record: dict | None) -> dict | None:
    """The handed-over record with the labels of its codes (stage statuses, consent purposes)
    in the reader's language, and its time as a time."""
    if not record:
        return record
    statuses = dict(StageStatus.choices)
    purposes = dict(ConsentPurpose.choices)
    shown = dict(record)
    shown["stages"] = [
        {**stage, "status_label": statuses.get(stage.get("status"), stage.get("status"))}
        for stage in record.get("stages", [])
    ]
    shown["consents"] = [
        {**consent, "purpose_label": purposes.get(consent.get("purpose"), consent.get("purpose"))}
        for consent in record.get("consents", [])
    ]
    if record.get("handed_over_at"):
        shown["handed_over_at"] = parse_datetime(record["handed_over_at"])
    return shown


@admin.register(TransferRequest)
class TransferRequestAdmin(ScopedModelAdmin, admin.ModelAdmin):
    visible_to = staticmethod(transfer.transfer_requests_visible_to)
    list_display = ["case_reference", "from_programme", "to_programme", "status", "requested_by", "requested_at"]
    list_display_links = ["case_reference"]
    list_filter = ["status", "from_programme", "to_programme"]
    search_fields = ["case__reference"]
    list_select_related = ["case", "from_programme", "to_programme", "requested_by"]

    @admin.display(description=_("case"), ordering="case__reference")
    def case_reference(self, obj):
        return obj.case.reference

    def has_add_permission(self, request):
        # Asked for on the case page, where the case's programme is known.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The request, what is handed over, and for a supervisor of the receiving programme
        accept (saying how the plan is taken over) or refuse (saying why)."""
        obj = self.get_object(request, object_id) if str(object_id).isdigit() else None
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404
        may_decide = transfer.may_decide(request.user, obj)
        form = TransferDecisionForm(request.POST or None, transfer_request=obj)
        if request.method == "POST" and may_decide and form.is_valid():
            accept = "accept" in request.POST
            try:
                transfer.transfer_request_decide(
                    request_id=obj.pk,
                    by=request.user,
                    accept=accept,
                    carry_over=form.cleaned_data["carry_over"],
                    caseworker=form.cleaned_data["caseworker"],
                    comment=form.cleaned_data["comment"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return HttpResponseRedirect(request.path)
            else:
                if accept:
                    self.message_user(
                        request,
                        _("%(reference)s: transfer accepted; the case is this programme's now.")
                        % {"reference": obj.case.reference},
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:casework_case_change", args=[obj.case_id]))
                self.message_user(
                    request, _("%(reference)s: transfer refused.") % {"reference": obj.case.reference}, messages.SUCCESS
                )
                return HttpResponseRedirect(request.path)
        obj.refresh_from_db()
        cases = staff_cases_of(request.user)
        sees_case = is_administrator(request.user) or (cases is not None and cases.filter(pk=obj.case_id).exists())
        preview = None
        if obj.status == TransferStatus.PENDING:
            sending = obj.case.enrolments.filter(programme_id=obj.from_programme_id, status="active").first()
            if sending is not None:
                preview = transfer.handed_over_record(obj.case, sending)
        return TemplateResponse(
            request,
            "admin/lifecycle/transferrequest/decide.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Transfer of case %(reference)s") % {"reference": obj.case.reference},
                "transfer_request": obj,
                "record": record_for_display(obj.handed_over or preview),
                "case_url": reverse("admin:casework_case_change", args=[obj.case_id]) if sees_case else None,
                "may_decide": may_decide,
                "form": form,
                "original": obj,
            },
        )
