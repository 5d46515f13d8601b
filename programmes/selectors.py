"""Reads of programmes and stages that need scoping."""

from __future__ import annotations

from django.db.models import QuerySet

from casework.roles import is_administrator, programme_ids_for
from casework.selectors import case_visible_to
from programmes.models import Enrolment, FollowUp, Programme, StageRecord


def programme_visible_to(user) -> QuerySet[Programme]:
    if is_administrator(user):
        return Programme.objects.all()
    return Programme.objects.filter(id__in=programme_ids_for(user))


def enrolment_visible_to(user) -> QuerySet[Enrolment]:
    if is_administrator(user):
        return Enrolment.objects.all()
    return Enrolment.objects.filter(case__in=case_visible_to(user).values("id"))


def stage_visible_to(user) -> QuerySet[StageRecord]:
    if is_administrator(user):
        return StageRecord.objects.all()
    return StageRecord.objects.filter(enrolment__case__in=case_visible_to(user).values("id"))


def follow_up_visible_to(user) -> QuerySet[FollowUp]:
    if is_administrator(user):
        return FollowUp.objects.all()
    return FollowUp.objects.filter(stage__enrolment__case__in=case_visible_to(user).values("id"))
