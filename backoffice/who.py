"""Who a row of a staff worklist is about: case reference (a link to the case page),
the person's primary name (to staff who may see the person), age, family and place.

Stages, follow-ups, closure requests and referrals all point at a case; ``WhoColumns``
annotates their list with what the columns need in the list's own query (one
``Exists`` for the name rule, one subquery for the place), so a page of 100 rows costs
what a page of 10 costs.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Exists, F, OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from casework.models import age_on
from casework.selectors import person_visible_to
from programmes import rules
from programmes.models import HousingPlacement

#: The annotation saying whether the user may see the row's person.
NAME_VISIBLE = "who_name_visible"
PLACE = "who_place"


def current_place(case_field: str) -> Subquery:
    """The settlement of the case's current housing placement (town or district, never the address)."""
    return Subquery(
        HousingPlacement.objects.filter(stage__enrolment__case_id=OuterRef(case_field), moved_out_on__isnull=True)
        .exclude(settlement="")
        .order_by("-moved_in_on", "-pk")
        .values("settlement")[:1]
    )


def with_who(queryset, user, *, case_path: str):
    """``queryset`` (rows that lead to a case through ``case_path``, e.g. ``"enrolment__case"``)
    with the case, person and family loaded and the name rule and place annotated."""
    return queryset.select_related(case_path, f"{case_path}__person", f"{case_path}__family").annotate(
        **{
            NAME_VISIBLE: Exists(person_visible_to(user).filter(pk=OuterRef(f"{case_path}__person_id"))),
            PLACE: current_place(f"{case_path}_id"),
            "who_case_id": F(f"{case_path}_id"),
        }
    )


def person_label(row, person) -> str:
    """The primary name, or a dash for a user who may not see the person."""
    return person.full_name if getattr(row, NAME_VISIBLE, False) else "—"


def age_label(person, today=None) -> str:
    years = age_on(person.date_of_birth, today or rules.site_today())
    return f"~{years}" if person.date_of_birth_estimated else str(years)


def case_link(case, *, label: str | None = None) -> str:
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:casework_case_change", args=[case.pk]), label or case.reference
    )


class WhoColumns:
    """Mix into an admin whose rows lead to a case: columns ``who_case``, ``who_person``,
    ``who_age``, ``who_family``, ``who_place`` for ``list_display``."""

    #: the path from the listed model to its case, e.g. ``"stage__enrolment__case"``
    case_path = ""

    def get_queryset(self, request):
        # The change list applies ``list_select_related`` only to a queryset that selects
        # nothing related yet: this one does, so it carries the list's own too.
        queryset = super().get_queryset(request).select_related(*(self.list_select_related or ()))
        return with_who(queryset, request.user, case_path=self.case_path)

    def _case(self, obj):
        for part in self.case_path.split("__"):
            obj = getattr(obj, part)
        return obj

    def export_person_ids(self, rows) -> list:
        return [self._case(row).person_id for row in rows]

    @admin.display(description=_("case"), ordering="who_case_id")
    def who_case(self, obj):
        return case_link(self._case(obj))

    @admin.display(description=_("person"))
    def who_person(self, obj):
        return person_label(obj, self._case(obj).person)

    @admin.display(description=_("age"))
    def who_age(self, obj):
        return age_label(self._case(obj).person)

    @admin.display(description=_("family"))
    def who_family(self, obj):
        family = self._case(obj).family
        return str(family) if family is not None else "—"

    @admin.display(description=_("place"))
    def who_place(self, obj):
        return getattr(obj, PLACE, None) or "—"


WHO_COLUMNS = ["who_case", "who_person", "who_age", "who_family", "who_place"]


#: The query parameter of a page opened from the case page (``?from=case``).
FROM_CASE = "from"


class ReturnToCaseMixin:
    """A stage or follow-up page opened from the case page (``?from=case``; the form
    posts to its own address, query included) goes back to the case page on "Save"."""

    def _back_to_case(self, request, obj, response):
        if request.GET.get(FROM_CASE) == "case" and "_save" in request.POST and obj.pk:
            return HttpResponseRedirect(reverse("admin:casework_case_change", args=[self._case(obj).pk]))
        return response

    def response_change(self, request, obj):
        return self._back_to_case(request, obj, super().response_change(request, obj))


def who_line(row, case, *, to: str = "") -> str:
    """One worklist line's "who": the case reference (linking to ``to``, else the case page),
    the name to those who may see it, age, family and place."""
    person = case.person
    details = [age_label(person)]
    if case.family is not None:
        details.append(str(case.family))
    place = getattr(row, PLACE, None)
    if place:
        details.append(place)
    name = person_label(row, person)
    return format_html(
        '<a href="{}">{}</a> <strong dir="auto">{}</strong> <span class="who-details">({})</span>',
        to or reverse("admin:casework_case_change", args=[case.pk]),
        case.reference,
        name,
        ", ".join(details),
    )
