"""One definition of each rule: the admin's list filters, the API's filters, the dashboard,
the case page and the reports give the same answer on the same data (``programmes.rules``)."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from casework.models import Case, CaseStatus, years_before
from backoffice.overview import case_overview, caseworker_dashboard
from core.roles import role_groups_sync
from programmes import reports, rules
from programmes.models import EnrolmentStatus, FollowUp, ProgrammeMembershipRole, StageRecord, StageStatus
from programmes.workflow import ACTION_PAST, TRANSITIONS
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _case(programme, caseworker, reference, *, born=None):
    person = f.PersonFactory(date_of_birth=born) if born else f.PersonFactory()
    case = f.CaseFactory(caseworker=caseworker, reference=reference, person=person)
    f.enrol(case, programme, by=caseworker)
    return case


def _stage(case) -> StageRecord:
    return StageRecord.objects.filter(enrolment__case=case).order_by("stage_type__position", "pk").first()


class Cases:
    """The caseworker's cases, each built to sit on one side of a rule."""

    def __init__(self, programme, caseworker):
        today = rules.programme_today(programme)
        self.today = today
        past, future = today - 5 * DAY, today + 30 * DAY
        people_today = rules.site_today()
        self.late = _case(programme, caseworker, "R-LATE")
        self.closed = _case(programme, caseworker, "R-CLOSED")
        self.withdrawn = _case(programme, caseworker, "R-WITHDRAWN")
        self.on_time = _case(programme, caseworker, "R-ON-TIME")
        self.late_visit = _case(programme, caseworker, "R-LATE-VISIT")
        # The edges of each age band: exactly 6 and exactly 18 today, and a day younger.
        self.six = _case(programme, caseworker, "R-SIX", born=years_before(people_today, 6))
        self.almost_six = _case(programme, caseworker, "R-ALMOST-SIX", born=years_before(people_today, 6) + DAY)
        self.eighteen = _case(programme, caseworker, "R-EIGHTEEN", born=years_before(people_today, 18))
        self.almost_eighteen = _case(
            programme, caseworker, "R-ALMOST-EIGHTEEN", born=years_before(people_today, 18) + DAY
        )

        # Every stage due in a month, the dashboard's and the API's alike (nobody else responsible).
        FollowUp.objects.all().delete()
        StageRecord.objects.filter(enrolment__programme=programme).update(
            planned_start=today - 20 * DAY, due_date=future, responsible_user=None
        )

        def past_due(case, status=StageStatus.PLANNED):
            stage = _stage(case)
            StageRecord.objects.filter(pk=stage.pk).update(
                due_date=past, status=status, started_on=today - 20 * DAY if status != StageStatus.PLANNED else None
            )
            return stage

        def follow_up(case, **fields):
            return FollowUp.objects.create(
                stage=_stage(case), kind="visit", due_date=past, assignee=caseworker, **fields
            )

        # Open and past due, in an active enrolment: overdue.
        self.late_stage = past_due(self.late, StageStatus.ACTIVE)
        self.late_follow_up = follow_up(self.late)
        # Done, or cancelled, however late: never overdue.
        self.done_follow_up = follow_up(self.late, done_on=past + DAY, outcome="Visited.")
        self.cancelled_follow_up = follow_up(self.late, cancelled_on=past + DAY)
        # A closed case keeps stages open and past due, but its enrolment has ended.
        past_due(self.closed, StageStatus.BLOCKED)
        follow_up(self.closed)
        Case.objects.filter(pk=self.closed.pk).update(status=CaseStatus.CLOSED, closed_on=today)
        self.closed.enrolments.update(status=EnrolmentStatus.COMPLETED, ended_on=today)
        # An open case withdrawn from the programme.
        past_due(self.withdrawn)
        follow_up(self.withdrawn)
        self.withdrawn.enrolments.update(status=EnrolmentStatus.WITHDRAWN, ended_on=today)
        # Due today is not late yet.
        StageRecord.objects.filter(pk=_stage(self.on_time).pk).update(due_date=today)
        FollowUp.objects.create(stage=_stage(self.on_time), kind="visit", due_date=today, assignee=caseworker)
        # Its plan on time, one visit late.
        self.late_visit_follow_up = follow_up(self.late_visit)


@pytest.fixture
def data(programme, caseworker, other_case):
    # The other programme's case is late too, and seen by neither door.
    StageRecord.objects.filter(enrolment__case=other_case).update(
        planned_start=datetime.date(2000, 1, 1), due_date=datetime.date(2000, 2, 1)
    )
    return Cases(programme, caseworker)


@pytest.fixture
def admin_client(client, caseworker):
    role_groups_sync()
    caseworker.groups.add(Group.objects.get(name="Caseworkers"))
    force_login(client, caseworker)
    return client


@pytest.fixture
def api(caseworker):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(caseworker)[1]}")
    return client


def admin_ids(client, changelist: str, query: dict) -> set[int]:
    response = client.get(reverse(f"admin:{changelist}_changelist"), query)
    assert response.status_code == 200, query
    return {row.pk for row in response.context["cl"].result_list}


def api_ids(client, basename: str, query: dict) -> set[int]:
    response = client.get(reverse(f"{basename}-list"), {**query, "page_size": 200})
    assert response.status_code == 200, (query, response.content)
    body = response.json()
    assert not body.get("next")
    return {row["id"] for row in body["results"]}


def test_overdue_stage_is_the_same_in_the_admin_and_the_api(data, admin_client, api):
    expected = {data.late_stage.pk}
    assert api_ids(api, "stage", {"overdue": "true"}) == expected
    assert admin_ids(admin_client, "programmes_stagerecord", {"mine": "overdue"}) == expected
    # Not overdue is everything else, the closed and withdrawn cases' late stages included.
    not_overdue = api_ids(api, "stage", {"overdue": "false"})
    assert expected.isdisjoint(not_overdue)
    assert _stage(data.closed).pk in not_overdue and _stage(data.withdrawn).pk in not_overdue


def test_overdue_follow_up_is_the_same_in_the_admin_the_api_and_the_dashboard(data, admin_client, api, caseworker):
    expected = {data.late_follow_up.pk, data.late_visit_follow_up.pk}
    assert api_ids(api, "follow-up", {"overdue": "true"}) == expected
    assert admin_ids(admin_client, "programmes_followup", {"mine": "overdue"}) == expected
    dashboard = caseworker_dashboard(user=caseworker)
    assert dashboard.overdue_follow_ups == len(expected)
    assert {follow_up.pk for follow_up in dashboard.overdue_list} == expected


def test_overdue_case_is_the_same_in_the_admin_and_the_api(data, admin_client, api):
    assert api_ids(api, "case", {"overdue": "true"}) == {data.late.pk}
    assert admin_ids(admin_client, "casework_case", {"overdue": "stage"}) == {data.late.pk}
    # Cases with a late follow-up: the admin's second choice, the API's follow-ups' cases.
    late_visits = api_ids(api, "follow-up", {"overdue": "true"})
    cases_of_late_visits = set(
        FollowUp.objects.filter(pk__in=late_visits).values_list("stage__enrolment__case_id", flat=True)
    )
    assert cases_of_late_visits == {data.late.pk, data.late_visit.pk}
    assert admin_ids(admin_client, "casework_case", {"overdue": "follow_up"}) == cases_of_late_visits


@pytest.mark.parametrize(
    ("band", "former", "members"),
    [
        ("preschool", "0-5", {"almost_six"}),
        ("school", "6-17", {"six", "almost_eighteen"}),
        ("adult", "18+", {"eighteen", "late", "closed", "withdrawn", "on_time", "late_visit"}),
    ],
)
def test_age_band_is_the_same_in_the_admin_and_the_api(data, admin_client, api, band, former, members):
    expected = {getattr(data, name).pk for name in members}
    assert api_ids(api, "case", {"age_band": band}) == expected
    assert admin_ids(admin_client, "casework_case", {"age": band}) == expected
    # Links and bookmarks with the admin's former values still work.
    assert admin_ids(admin_client, "casework_case", {"age": former}) == expected


def test_programme_is_the_same_in_the_admin_and_the_api(
    data, admin_client, api, programme, other_programme, caseworker
):
    # A case of both programmes: the caseworker sees it through theirs.
    both = f.CaseFactory(caseworker=caseworker, reference="R-BOTH")
    f.enrol(both, other_programme, by=None)
    f.enrol(both, programme, by=None)
    mine = set(Case.objects.filter(enrolments__programme=programme).values_list("pk", flat=True))
    # Enrolled now or before: the closed and withdrawn cases stay in the programme's caseload.
    assert {data.closed.pk, data.withdrawn.pk, both.pk} <= mine
    assert api_ids(api, "case", {"programme": programme.pk}) == mine
    assert admin_ids(admin_client, "casework_case", {"programme": programme.pk}) == mine
    assert api_ids(api, "case", {"programme": other_programme.pk}) == {both.pk}
    assert admin_ids(admin_client, "casework_case", {"programme": other_programme.pk}) == {both.pk}


@pytest.mark.parametrize("status", [CaseStatus.OPEN, CaseStatus.CLOSED])
def test_status_is_the_same_in_the_admin_and_the_api(data, admin_client, api, status):
    expected = set(Case.objects.filter(status=status, enrolments__programme__code="north").values_list("pk", flat=True))
    assert expected
    assert api_ids(api, "case", {"status": status}) == expected
    assert admin_ids(admin_client, "casework_case", {"status__exact": status}) == expected


def test_case_page_and_report_count_what_the_filters_find(data, api, caseworker, programme):
    overview = case_overview(case_id=data.closed.pk, user=caseworker, visible_cases=Case.objects.all())
    assert not any(stage.overdue for stage in overview.stages)
    assert not any(follow_up.overdue for follow_up in overview.follow_ups)
    overview = case_overview(case_id=data.late.pk, user=caseworker, visible_cases=Case.objects.all())
    assert [stage.pk for stage in overview.stages if stage.overdue] == [data.late_stage.pk]
    assert [follow_up.pk for follow_up in overview.follow_ups if follow_up.overdue] == [data.late_follow_up.pk]

    numbers = reports.report_numbers(programme=programme, period=reports.period_last_complete(programme, "weekly"))
    assert numbers["overdue"]["total"] == len(api_ids(api, "stage", {"overdue": "true"}))
    assert numbers["totals"]["overdue_follow_ups"] == len(api_ids(api, "follow-up", {"overdue": "true"}))


def test_each_stage_is_judged_on_its_own_programmes_today(caseworker):
    # At noon UTC it is already tomorrow on Kiritimati (UTC+14) and still today on Niue (UTC-11).
    now = datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.timezone.utc)
    east = f.ProgrammeFactory(code="east", time_zone="Pacific/Kiritimati")
    west = f.ProgrammeFactory(code="west", time_zone="Pacific/Niue")
    assert rules.programme_today(east, now) == datetime.date(2026, 12, 1)
    assert rules.programme_today(west, now) == datetime.date(2026, 11, 30)
    f.add_member(east, caseworker, ProgrammeMembershipRole.CASEWORKER)
    f.add_member(west, caseworker, ProgrammeMembershipRole.CASEWORKER)
    stages = {}
    for programme in (east, west):
        case = _case(programme, caseworker, f"R-{programme.code}")
        stages[programme.code] = stage = _stage(case)
        StageRecord.objects.filter(enrolment__case=case).update(
            planned_start=datetime.date(2026, 11, 1), due_date=datetime.date(2027, 6, 1)
        )
        StageRecord.objects.filter(pk=stage.pk).update(
            planned_start=datetime.date(2026, 11, 1), due_date=datetime.date(2026, 11, 30)
        )
        FollowUp.objects.create(stage=stage, kind="call", due_date=datetime.date(2026, 11, 30))
    overdue = StageRecord.objects.filter(rules.stage_overdue_q(now=now))
    assert set(overdue.values_list("pk", flat=True)) == {stages["east"].pk}
    late_calls = FollowUp.objects.filter(rules.follow_up_overdue_q(now=now))
    assert set(late_calls.values_list("stage_id", flat=True)) == {stages["east"].pk}
    assert set(Case.objects.filter(rules.case_has_overdue_stage(now=now)).values_list("reference", flat=True)) == {
        "R-east"
    }


def test_every_transition_has_one_label_and_one_past_tense():
    assert rules.TRANSITION_LABELS.keys() == TRANSITIONS.keys() == ACTION_PAST.keys()
    assert rules.ACTION_PAST is ACTION_PAST


def test_the_case_page_buttons_use_the_transition_labels(case, caseworker):
    overview = case_overview(case_id=case.pk, user=caseworker, visible_cases=Case.objects.all())
    buttons = [button for stage in overview.stages for button in stage.allowed]
    assert buttons and all(button.label == rules.TRANSITION_LABELS[button.name] for button in buttons)


def test_api_is_overdue_agrees_with_the_overdue_filter_row_by_row(data, api):
    """Every stage and follow-up the API prints says ``is_overdue`` exactly when the
    ``?overdue=true`` filter returns it, and a case's current stages say the same
    (a closed case's or an ended enrolment's late stage is overdue in neither)."""
    client = api
    stage_url, follow_up_url, case_url = reverse("stage-list"), reverse("follow-up-list"), reverse("case-list")
    for url in (stage_url, follow_up_url):
        rows = client.get(url, {"page_size": 200}).json()["results"]
        overdue = {row["id"] for row in client.get(url, {"overdue": "true", "page_size": 200}).json()["results"]}
        assert rows, url
        assert {row["id"] for row in rows if row["is_overdue"]} == overdue, url
    stage_rows = {row["id"]: row["is_overdue"] for row in client.get(stage_url, {"page_size": 200}).json()["results"]}
    for case in client.get(case_url, {"page_size": 200}).json()["results"]:
        for summary in case["current_stages"]:
            assert summary["is_overdue"] is stage_rows[summary["id"]]
