"""The cohort import in the admin: an upload page and each import's review queue, both
through ``lifecycle.cohort_import`` (the module the ``import_cohort`` command runs).

- **Import a cohort** (the add page of ``CohortImport``): a file, the programme (one the
  user works in), the operation, and "check only". The page shows every error with its
  row and column, or what was registered and what awaits review.
- **The review queue** of an import (``<id>/review/``): its pending households, each
  flagged person beside their candidates (names in every script, birth year, family and
  case references, how alike), a choice per person "same person as X" / "different
  person"; registering calls ``household_decide``, which calls ``arrivals_register``.

Only imports of the programmes the user works in are listed or reviewed.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from backoffice.intake_admin import candidate_on_file_view, may_register_arrivals
from backoffice.scoping import ScopedModelAdmin
from casework.duplicates import candidates_seen_by
from casework.models import RepatriationOperation
from lifecycle.models import CohortImport
from lifecycle.visibility import rows_for_cohort_imports
from core import visibility
from core.errors import NotVisible
from lifecycle.cohort_import import (
    RELATIONSHIPS,
    cohort_import,
    household_decide,
    household_rows,
    household_skip,
    pending_rows_visible_to,
)
from lifecycle.intake import DIFFERENT, PossibleDuplicates
from programmes.models import Programme

#: The largest file the page takes.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
_RELATIONSHIP_WORD = {value: word for word, value in RELATIONSHIPS.items()}


class UploadForm(forms.Form):
    file = forms.FileField(label=_("File"), help_text=_("CSV (UTF-8 or Windows-1251) or XLSX, one row a person."))
    programme = forms.ModelChoiceField(queryset=Programme.objects.none(), label=_("Programme"))
    # Operations are a public catalogue: every staff member may pick any.
    operation = forms.ModelChoiceField(queryset=RepatriationOperation.objects.all(), label=_("Repatriation operation"))
    dry_run = forms.BooleanField(label=_("Check only: write nothing"), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["programme"].queryset = visibility.rows_of(user, Programme).order_by("name")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(_("Import at most 5 MB at once."))
        return upload


def _candidate_rows(user, stored_rows) -> dict[int, list[dict]]:
    """Each stored row's candidates as a caseworker compares them: only people the user
    may see, names in every script (never former names or aliases), birth year, family
    and case references."""
    seen = candidates_seen_by(user, (c.get("person") for row in stored_rows for c in row.candidates))
    views = {}
    for row in stored_rows:
        shown = []
        for candidate in row.candidates:
            person = seen.get(candidate.get("person"))
            if candidate.get("person") and person is None:
                continue
            if person is not None:
                shown.append(
                    {
                        **candidate_on_file_view(person),
                        "reasons": ", ".join(candidate.get("reasons", [])),
                        "score": f"{candidate.get('score', 0):.2f}",
                    }
                )
            else:
                shown.append(
                    {
                        "value": "",
                        "names": [_("row %(n)s of this file") % {"n": candidate.get("row")}],
                        "born": "—",
                        "family": "—",
                        "case": "—",
                        "url": "",
                        "reasons": ", ".join(candidate.get("reasons", [])),
                        "score": f"{candidate.get('score', 0):.2f}",
                    }
                )
        views[row.pk] = shown
    return views


def _row_view(row, candidates) -> dict:
    data = row.data or {}
    born = data.get("date_of_birth") or (_("about %(n)s years old") % {"n": data.get("age")})
    return {
        "pk": row.pk,
        "number": row.row_number,
        "name": " ".join(p for p in (data.get("given_name"), data.get("patronymic"), data.get("family_name")) if p),
        "spellings": data.get("other_spellings", []),
        "sex": data.get("sex", ""),
        "born": born,
        "relationship": _RELATIONSHIP_WORD.get(data.get("relationship"), data.get("relationship", "")),
        "candidates": candidates,
    }


@admin.register(CohortImport)
class CohortImportAdmin(ScopedModelAdmin, admin.ModelAdmin):
    """The imports of the user's programmes; adding one is the upload page."""

    visible_to = rows_for_cohort_imports
    list_display = [
        "created_at",
        "file_name",
        "programme",
        "operation",
        "rows",
        "created_persons",
        "created_cases",
        "linked",
        "awaiting_review",
        "review_link",
    ]
    list_display_links = None
    fields = ["file_name"]
    actions = None

    def has_module_permission(self, request):
        return may_register_arrivals(request.user)

    def has_view_permission(self, request, obj=None):
        return may_register_arrivals(request.user)

    def has_add_permission(self, request):
        return may_register_arrivals(request.user)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("review"))
    def review_link(self, obj):
        if not obj.awaiting_review:
            return "—"
        url = reverse("admin:lifecycle_cohortimport_review", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Review"))

    def get_urls(self):
        review = path(
            "<int:import_id>/review/",
            self.admin_site.admin_view(self.review_view),
            name="lifecycle_cohortimport_review",
        )
        return [review, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # An import is not edited: its page is its review queue.
        if not str(object_id).isdigit():
            raise Http404
        return self.review_view(request, int(object_id))

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        result = None
        dry_run = False
        if request.method == "POST":
            form = UploadForm(request.POST, request.FILES, user=request.user)
            if form.is_valid():
                data = form.cleaned_data
                dry_run = data["dry_run"]
                try:
                    result = cohort_import(
                        data["file"].read(),
                        file_name=data["file"].name,
                        programme=data["programme"],
                        operation=data["operation"],
                        by=request.user,
                        dry_run=dry_run,
                    )
                except NotVisible:
                    form.add_error(None, _("Choose a programme and an operation from the lists."))
        else:
            form = UploadForm(user=request.user)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import a cohort"),
            "subtitle": None,
            "opts": self.model._meta,
            "form": form,
            "result": result.report() if result else None,
            "dry_run": dry_run,
            "review_url": reverse("admin:lifecycle_cohortimport_review", args=[result.cohort_import.pk])
            if result and result.cohort_import and result.report()["awaiting_review"]
            else "",
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/import/upload.html", context)

    def review_view(self, request, import_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        record = self.get_queryset(request).filter(pk=import_id).select_related("programme", "operation").first()
        if record is None:
            raise Http404
        user = request.user
        pending = pending_rows_visible_to(user).filter(cohort_import=record)
        if request.method == "POST":
            row = pending.filter(pk=request.POST.get("row", "") if request.POST.get("row", "").isdigit() else 0).first()
            if row is None:
                messages.error(request, _("This household was decided already."))
                return HttpResponseRedirect(request.path)
            try:
                if request.POST.get("skip"):
                    household_skip(row=row, by=user)
                    messages.success(request, _("The household was left unregistered."))
                else:
                    decisions = {
                        stored.pk: request.POST.get(f"decision-{stored.pk}", "")
                        for stored in household_rows(row)
                        if request.POST.get(f"decision-{stored.pk}", "")
                    }
                    registration = household_decide(row=row, decisions=decisions, by=user)
                    references = ", ".join(case.reference for case in registration.cases)
                    messages.success(
                        request,
                        _("Registered %(n)d people; cases %(refs)s.")
                        % {"n": len(registration.cases), "refs": references},
                    )
            except PossibleDuplicates as exc:
                messages.warning(request, str(exc))
            except (ValidationError, NotVisible) as exc:
                for message in getattr(exc, "messages", [_("This household could not be registered.")]):
                    messages.error(request, message)
            return HttpResponseRedirect(request.path)

        stored_rows = list(pending.order_by("household_key", "row_number"))
        candidates = _candidate_rows(user, stored_rows)
        households: dict[str, list[dict]] = {}
        for row in stored_rows:
            households.setdefault(row.household_key, []).append(_row_view(row, candidates[row.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Review the cohort import of %(date)s") % {"date": f"{record.created_at:%Y-%m-%d}"},
            "subtitle": None,
            "opts": self.model._meta,
            "record": record,
            "households": [
                {"key": key, "first": rows[0]["pk"], "rows": rows} for key, rows in sorted(households.items())
            ],
            "different": DIFFERENT,
        }
        return TemplateResponse(request, "admin/import/review.html", context)
