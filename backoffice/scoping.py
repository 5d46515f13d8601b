"""The admin's doors, wired to the selectors once.

``ScopedModelAdmin`` and ``ScopedInlineMixin`` are what every admin page and
inline of the project builds on:

- lists, change pages, deletes and autocomplete results come from the page's
  selector (``visible_to``);
- every foreign key and many-to-many field (select, raw id, autocomplete)
  offers and accepts only the rows ``casework.visibility`` allows the user,
  so a forged POST with another programme's id fails the form's validation;
- a raw-id widget prints the label of a row only when the user may see it;
- ``?person=2`` style initial values of add forms are dropped, and audited as a
  refused read, when they name a row the user may not see;
- a change page asked for a row the user may not see answers like a missing
  one, and the refusal is audited (who, which kind of row, which id);
- an admin action runs only for users who hold the permissions it declares
  (``allowed_permissions``); an action declaring none is not offered at all.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin import widgets
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from audit.reads import record_refused_read
from core import visibility


class ScopedRawIdWidget(widgets.ForeignKeyRawIdWidget):
    """A raw-id input whose label (the name or reference beside the id) is looked up
    among the rows the user may pick, never among all rows."""

    def __init__(self, rel, admin_site, attrs=None, using=None, *, queryset):
        super().__init__(rel, admin_site, attrs=attrs, using=using)
        self.queryset = queryset

    def label_and_url_for_value(self, value):
        key = self.rel.get_related_field().name
        try:
            obj = self.queryset.get(**{key: value})
        except (ValueError, TypeError, self.rel.model.DoesNotExist, ValidationError):
            return "", ""
        try:
            url = reverse(f"{self.admin_site.name}:{obj._meta.app_label}_{obj._meta.model_name}_change", args=(obj.pk,))
        except NoReverseMatch:
            url = ""
        return Truncator(obj).words(14), url


def _ordered(admin_site, db_field, request, queryset):
    related_admin = admin_site._registry.get(db_field.remote_field.model)
    ordering = related_admin.get_ordering(request) if related_admin is not None else ()
    return queryset.order_by(*ordering) if ordering else queryset


class ScopedFieldsMixin:
    """Foreign keys and many-to-many fields limited to the rows the user may pick."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        allowed = visibility.rows_for_field(request.user, db_field)
        if allowed is not None and "queryset" not in kwargs:
            kwargs["queryset"] = _ordered(self.admin_site, db_field, request, allowed)
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and isinstance(formfield.widget, widgets.ForeignKeyRawIdWidget):
            formfield.widget = ScopedRawIdWidget(
                db_field.remote_field,
                self.admin_site,
                using=kwargs.get("using"),
                queryset=formfield.queryset,
            )
        return formfield

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        allowed = visibility.rows_for_field(request.user, db_field)
        if allowed is not None and "queryset" not in kwargs:
            kwargs["queryset"] = _ordered(self.admin_site, db_field, request, allowed)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ScopedInlineMixin(ScopedFieldsMixin):
    """For inlines: the rows shown are the parent's; their foreign keys are scoped."""


class ScopedModelAdmin(ScopedFieldsMixin):
    """Mix in before ``admin.ModelAdmin``; set ``visible_to`` to a selector ``f(user) -> QuerySet``."""

    #: a selector ``f(user) -> QuerySet`` of the rows the user may see; None for a public catalogue.
    visible_to = None

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        visible = type(self).visible_to
        if visible is None:
            return queryset
        return queryset.filter(pk__in=visible(request.user).values("pk"))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None and type(self).visible_to is not None:
            record_refused_read(self.model, object_id, door_note="admin change page")
        return obj

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        for name in list(initial):
            try:
                field = self.opts.get_field(name)
            except FieldDoesNotExist:
                continue
            if not isinstance(field, models.ForeignKey):
                continue
            allowed = visibility.rows_for_field(request.user, field)
            value = initial[name]
            if allowed is None:
                continue
            if not str(value).isdigit() or not allowed.filter(pk=int(value)).exists():
                del initial[name]
                record_refused_read(field.related_model, value, door_note="admin add form")
        return initial

    def _filter_actions_by_permissions(self, request, actions):
        # Fail closed: an action that declares no permission is offered to no one.
        declared = [action for action in actions if getattr(action[0], "allowed_permissions", None)]
        return super()._filter_actions_by_permissions(request, declared)


def staff_list_filter(field: str, title: str, *, parameter: str = "") -> type[admin.SimpleListFilter]:
    """A list filter by a user field (caseworker, assignee) that lists only the staff of the
    programmes the user works in, never every account. ``parameter``: its query parameter
    when not the field's path (``?caseworker=`` on a list of stages)."""

    class StaffFilter(admin.SimpleListFilter):
        parameter_name = parameter or field

        def lookups(self, request, model_admin):
            return [
                (str(user.pk), user.get_full_name() or user.username)
                for user in visibility.assignable_staff(request.user)
            ]

        def queryset(self, request, queryset):
            value = self.value()
            if value and value.isdigit():
                return queryset.filter(**{f"{field}_id": int(value)})
            return queryset

    StaffFilter.title = title
    StaffFilter.__name__ = StaffFilter.__qualname__ = f"{(parameter or field).title()}StaffFilter"
    return StaffFilter


class OpenCaseForm(forms.ModelForm):
    """The form of a row that starts work on a case (a referral, an enrolment): refused
    with a message on a closed case, which the services refuse too."""

    def clean(self):
        cleaned = super().clean()
        from casework.models import CaseStatus

        case = cleaned.get("case")
        if case is None and self.instance.case_id:
            case = self.instance.case
        if case is not None and self.instance._state.adding and case.status == CaseStatus.CLOSED:
            raise ValidationError(_("This case is closed: reopen it before new work starts on it."))
        return cleaned
