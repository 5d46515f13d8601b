"""The case's "enrolled" mark, kept by every enrolment write (``programmes.enrolled``), and the
staff scope that reads it only as a shortcut: a case assigned to a caseworker and enrolled
nowhere is theirs; a case enrolled in another programme never is, marked or not."""

from __future__ import annotations

import pytest

from casework.models import Case
from casework.selectors import case_visible_to
from programmes import services
from programmes.models import Enrolment
from tests import factories as f

pytestmark = pytest.mark.django_db


def marked(case) -> bool:
    return Case.objects.values_list("enrolled", flat=True).get(pk=case.pk)


def test_an_enrolment_marks_its_case_and_deleting_the_last_one_clears_it(programme, other_programme, caseworker):
    case = f.CaseFactory(caseworker=caseworker)
    assert not marked(case)
    first = f.enrol(case, programme, by=caseworker)
    assert marked(case)
    second = Enrolment.objects.create(case=case, programme=other_programme, enrolled_on=first.enrolled_on)
    first.delete()
    assert marked(case)  # one enrolment is left
    second.delete()
    assert not marked(case)


def test_enrolments_written_in_bulk_mark_their_cases(programme, caseworker):
    cases = [f.CaseFactory(caseworker=caseworker) for _ in range(3)]
    services.enrolments_create(cases=cases, programme=programme, by=caseworker)
    assert all(marked(case) for case in cases)


def test_a_caseworker_sees_their_unenrolled_case_and_loses_it_to_another_programme(
    programme, other_programme, caseworker, other_caseworker, administrator
):
    case = f.CaseFactory(caseworker=caseworker)
    assert case in case_visible_to(caseworker)
    f.enrol(case, other_programme, by=administrator)
    assert case not in case_visible_to(caseworker) and case in case_visible_to(other_caseworker)


def test_an_unmarked_case_enrolled_elsewhere_is_still_not_the_assigned_caseworkers(
    programme, other_programme, caseworker, other_caseworker, administrator
):
    """Rows written by hand leave the mark unset: the scope still asks the enrolments."""
    case = f.CaseFactory(caseworker=caseworker)
    f.enrol(case, other_programme, by=administrator)
    Case.objects.filter(pk=case.pk).update(enrolled=False)
    assert case not in case_visible_to(caseworker)
    assert case in case_visible_to(other_caseworker)


def test_the_migration_marks_the_cases_that_have_an_enrolment(programme, caseworker):
    from importlib import import_module

    from django.apps import apps

    enrolled, alone = f.CaseFactory(caseworker=caseworker), f.CaseFactory(caseworker=caseworker)
    f.enrol(enrolled, programme, by=caseworker)
    Case.objects.update(enrolled=False)
    import_module("programmes.migrations.0014_case_enrolled_backfill").mark(apps, None)
    assert marked(enrolled) and not marked(alone)


def test_the_mark_stays_out_of_the_cases_change_log(programme, caseworker):
    """Derived from the enrolments, which are audited themselves: an auditor reading a
    case's trail sees the enrolment, not a second entry for the mark."""
    from audit.models import AuditEntry

    case = f.CaseFactory(caseworker=caseworker)
    f.enrol(case, programme, by=caseworker)
    case.refresh_from_db()
    case.save()
    entries = AuditEntry.objects.get_for_object(case)
    assert entries.exists()
    assert all("enrolled" not in (entry.changes_dict or {}) for entry in entries)


def test_a_case_written_without_the_mark_reads_as_not_enrolled(caseworker):
    """Rows inserted by SQL that does not name the column (bulk loads, benchmarks) get the
    database's default."""
    from django.db import connection

    case, other = f.CaseFactory(caseworker=caseworker), f.PersonFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO casework_case (reference, person_id, caseworker_id, status, risk_level, legal_status,
                   arrival_date, opened_on, created_at, updated_at)
               SELECT reference || '-B', %s, caseworker_id, status, risk_level, legal_status,
                   arrival_date, opened_on, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM casework_case WHERE id = %s RETURNING id""",
            [other.pk, case.pk],
        )
        (new_id,) = cursor.fetchone()
    assert Case.objects.values_list("enrolled", flat=True).get(pk=new_id) is False
    assert Case.objects.get(pk=new_id) in case_visible_to(caseworker)
