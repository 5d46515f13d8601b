"""The "Register arrivals" page: an arriving family in one page, through
``lifecycle.intake.arrivals_register``.

The household (operation, programme, arrival date, receiving relative) and a row per
person. When the duplicate check finds people who may already be on file, the same
page comes back with each flagged person's candidates side by side and a choice
"same person" / "different person"; the second submit saves and lands on the first
case's page. The page is the add view of the ``Arrival`` proxy, so the admin index
lists it; its list redirects here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from backoffice.scoping import ScopedModelAdmin
from casework import selectors
from casework.duplicates import candidates_seen_by
from casework.models import Arrival, Relationship, RepatriationOperation, Sex
from core import visibility
from core.errors import NotVisible
from core.roles import is_administrator, programme_ids_for
from lifecycle.intake import (
    COUNTRIES,
    DIFFERENT,
    LANGUAGES,
    MAX_AGE,
    Household,
    MemberInput,
    PossibleDuplicates,
    arrivals_register,
)
from programmes.models import Programme

MEMBER_ROWS = 6
MAX_ROWS = 20


#: Offered first: the countries and languages most returnees come with.
COMMON_COUNTRIES = ("KZ", "SY", "IQ", "RU", "UZ", "KG", "TJ", "TR", "AF")
COMMON_LANGUAGES = ("kk", "ru", "ar", "uz", "ky", "tg", "tt", "ce", "ku", "tr", "en")


def _by_name(codes: dict[str, str], common: tuple[str, ...]) -> list:
    """Choices "Name (code)": the common ones first, then every other code by name."""
    label = {code: f"{name} ({code})" for code, name in codes.items()}
    rest = sorted((code for code in codes if code not in common), key=label.get)
    return [(_("Most frequent"), [(code, label[code]) for code in common]), (_("All"), [(c, label[c]) for c in rest])]


class HouseholdForm(forms.Form):
    # Operations are a public catalogue: every staff member may pick any.
    operation = forms.ModelChoiceField(queryset=RepatriationOperation.objects.all(), label=_("Repatriation operation"))
    programme = forms.ModelChoiceField(queryset=Programme.objects.none(), label=_("Programme"))
    arrival_date = forms.DateField(label=_("Arrival date"), widget=forms.DateInput(attrs={"type": "date"}))
    relative_name = forms.CharField(label=_("Receiving relative's name"), max_length=200, required=False)
    relative_relationship = forms.ChoiceField(
        label=_("Receiving relative's relationship to the head"),
        choices=Relationship.choices,
        initial=Relationship.OTHER_RELATIVE,
        required=False,
    )
    relative_phone = forms.CharField(label=_("Receiving relative's phone"), max_length=40, required=False)
    relative_address = forms.CharField(
        label=_("Receiving relative's address"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the programmes the user works in (every programme for administrators).
        self.fields["programme"].queryset = visibility.rows_of(user, Programme).order_by("name")
        choices = list(self.fields["programme"].queryset[:2])
        if len(choices) == 1:
            self.fields["programme"].initial = choices[0].pk


class MemberForm(forms.Form):
    given_name = forms.CharField(label=_("Given name"), max_length=150)
    family_name = forms.CharField(label=_("Family name"), max_length=150, required=False)
    patronymic = forms.CharField(
        label=_("Patronymic"),
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("patronymic")}),
    )
    other_spellings = forms.CharField(
        label=_("Other spellings"),
        required=False,
        max_length=2000,
        help_text=_("One per line, in any script."),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 22}),
    )
    sex = forms.ChoiceField(label=_("Sex"), choices=[("", "—"), *Sex.choices])
    date_of_birth = forms.DateField(
        label=_("Date of birth"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    age = forms.IntegerField(
        label=_("or age"),
        required=False,
        min_value=0,
        max_value=MAX_AGE,
        help_text=_("About how old, when there is no document."),
    )
    relationship = forms.ChoiceField(label=_("Relationship to the head"), choices=[("", "—"), *Relationship.choices])
    nationality = forms.ChoiceField(
        label=_("Nationality"), required=False, choices=[("", "—"), *_by_name(COUNTRIES, COMMON_COUNTRIES)]
    )
    languages = forms.MultipleChoiceField(
        label=_("Languages"),
        required=False,
        choices=_by_name(LANGUAGES, COMMON_LANGUAGES),
        widget=forms.SelectMultiple(attrs={"size": 3}),
    )
    interpreter_language = forms.ChoiceField(
        label=_("Interpreter needed for"),
        required=False,
        choices=[("", _("no interpreter")), *_by_name(LANGUAGES, COMMON_LANGUAGES)],
        help_text=_("The language an interpreter must speak with this person."),
    )
    decision = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("date_of_birth") is None and cleaned.get("age") is None and not self.errors:
            self.add_error("date_of_birth", _("Give a date of birth or an age."))
        elif cleaned.get("date_of_birth") is not None and cleaned.get("age") is not None:
            self.add_error("age", _("Give a date of birth or an age, not both."))
        return cleaned

    def member(self) -> MemberInput:
        data = self.cleaned_data
        return MemberInput(
            given_name=data["given_name"],
            family_name=data["family_name"],
            patronymic=data["patronymic"],
            other_spellings=[line.strip() for line in data["other_spellings"].splitlines() if line.strip()],
            sex=data["sex"],
            date_of_birth=data["date_of_birth"],
            age=data["age"],
            relationship=data["relationship"],
            nationality=data["nationality"],
            languages=list(data["languages"]),
            interpreter_needed=bool(data["interpreter_language"]),
            interpreter_language=data["interpreter_language"],
        )


MemberFormSet = forms.formset_factory(MemberForm, extra=0, min_num=1, validate_min=True, max_num=MAX_ROWS)


def may_register_arrivals(user) -> bool:
    """Administrators, and staff of a programme who may add people and cases."""
    if not user.is_active or not user.is_staff:
        return False
    if is_administrator(user):
        return True
    return bool(programme_ids_for(user)) and user.has_perms(["casework.add_person", "casework.add_case"])


def _field_errors(exc: ValidationError, household_form, forms_in_order) -> None:
    """Put the service's errors (``members.2.age``) on the fields they name."""
    for key, messages_ in exc.message_dict.items():
        parts = key.split(".")
        if parts[0] == "members" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(forms_in_order):
            form = forms_in_order[int(parts[1])]
            name = parts[2] if parts[2] in form.fields else None
            for message in messages_:
                form.add_error(name, message)
        elif key in household_form.fields:
            for message in messages_:
                household_form.add_error(key, message)
        else:
            for message in messages_:
                household_form.add_error(None, message)


def candidate_on_file_view(seen) -> dict:
    """A candidate on file as the duplicate tables show it (``casework.duplicates.SeenCandidate``)."""
    return {
        "value": f"same:{seen.person.pk}",
        "names": seen.names,
        "born": seen.born,
        "family": seen.family_reference or "—",
        "case": seen.case_reference or "—",
        "url": reverse("admin:casework_person_change", args=[seen.person.pk]),
    }


def _candidate_views(user, candidates, forms_in_order):
    """What a caseworker compares: names in every script (no former names or aliases),
    birth year, family and case references, only of people the user may see."""
    seen = candidates_seen_by(user, (c.person_id for found in candidates.values() for c in found))
    views = {}
    for index, found in candidates.items():
        rows = []
        for candidate in found:
            if candidate.person_id is not None:
                person = seen.get(candidate.person_id)
                if person is None:
                    continue
                rows.append(
                    {
                        **candidate_on_file_view(person),
                        "reasons": ", ".join(candidate.reasons),
                        "score": f"{candidate.score:.2f}",
                    }
                )
            else:
                other = forms_in_order[candidate.member].cleaned_data
                rows.append(
                    {
                        "value": "",
                        "names": [" ".join(p for p in (other["given_name"], other["family_name"]) if p)],
                        "born": _("row %(n)d of this page") % {"n": candidate.member + 1},
                        "family": "—",
                        "case": "—",
                        "reasons": ", ".join(candidate.reasons),
                        "score": f"{candidate.score:.2f}",
                        "url": "",
                    }
                )
        views[index] = rows
    return views


@admin.register(Arrival)
class ArrivalAdmin(ScopedModelAdmin, admin.ModelAdmin):
    """One page, reached from the index: the list redirects to it, nothing is edited here."""

    visible_to = selectors.family_visible_to
    fields = ["operation"]
    actions = None

    def has_module_permission(self, request):
        return may_register_arrivals(request.user)

    def has_view_permission(self, request, obj=None):
        return obj is None and may_register_arrivals(request.user)

    def has_add_permission(self, request):
        return may_register_arrivals(request.user)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:casework_arrival_add"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:casework_arrival_add"))

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        user = request.user
        rows = MEMBER_ROWS
        if request.GET.get("rows", "").isdigit():
            rows = max(1, min(MAX_ROWS, int(request.GET["rows"])))
        candidates_view = {}
        if request.method == "POST":
            household_form = HouseholdForm(request.POST, user=user)
            formset = MemberFormSet(request.POST, prefix="members")
            if household_form.is_valid() and formset.is_valid():
                filled = [form for form in formset.forms if form.has_changed() and form.cleaned_data]
                data = household_form.cleaned_data
                household = Household(
                    programme=data["programme"],
                    operation=data["operation"],
                    arrival_date=data["arrival_date"],
                    relative_name=data["relative_name"],
                    relative_phone=data["relative_phone"],
                    relative_address=data["relative_address"],
                    relative_relationship=data["relative_relationship"] or Relationship.OTHER_RELATIVE,
                    members=[form.member() for form in filled],
                )
                decisions = {
                    index: form.cleaned_data["decision"]
                    for index, form in enumerate(filled)
                    if form.cleaned_data.get("decision")
                }
                try:
                    registration = arrivals_register(household=household, by=user, decisions=decisions)
                except PossibleDuplicates as exc:
                    candidates_view = {
                        filled[index].prefix: rows_
                        for index, rows_ in _candidate_views(user, exc.candidates, filled).items()
                    }
                    for form in filled:
                        form.possible_duplicates = candidates_view.get(form.prefix)
                    messages.warning(request, str(exc))
                except NotVisible:
                    household_form.add_error(None, _("Choose a programme and an operation from the lists."))
                except ValidationError as exc:
                    _field_errors(exc, household_form, filled)
                else:
                    references = ", ".join(case.reference for case in registration.cases)
                    messages.success(
                        request,
                        _("Registered %(n)d people; cases %(refs)s.")
                        % {"n": len(registration.cases), "refs": references},
                    )
                    return HttpResponseRedirect(reverse("admin:casework_case_change", args=[registration.cases[0].pk]))
        else:
            household_form = HouseholdForm(user=user)
            formset = forms.formset_factory(MemberForm, extra=rows - 1, min_num=1, validate_min=True, max_num=MAX_ROWS)(
                prefix="members"
            )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Register arrivals"),
            "subtitle": None,
            "opts": self.model._meta,
            "household_form": household_form,
            "formset": formset,
            "has_duplicates": bool(candidates_view),
            "different": DIFFERENT,
            "media": self.media + household_form.media + formset.media,
        }
        return TemplateResponse(request, "admin/intake/register_arrivals.html", context)
