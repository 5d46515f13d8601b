"""The caseworkers' and supervisors' day in the admin: worklists that say who, the dashboard,
closure requested on the case page and decided on its own page."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from casework.models import CaseStatus, ClosureRequest, Family, FamilyMembership
from core.roles import role_groups_sync
from lifecycle import closure
from notifications.models import Notification
from programmes.models import FollowUp, StageRecord
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def groups(db):
    role_groups_sync()


def login(client, user, group="Caseworkers"):
    user.groups.add(Group.objects.get(name=group))
    return force_login(client, user)


@pytest.fixture
def household(case, caseworker, programme):
    """The case of Aisha Samplova (born 1994), head of the Samplov household, housed in Kosshy,
    with a follow-up three days overdue and a blocked documents stage."""
    person = case.person
    person.given_name, person.family_name, person.date_of_birth = "Aisha", "Samplova", datetime.date(1994, 3, 2)
    person.save()
    family = Family.objects.create(reference="F-0001", label="Samplov household (test)")
    FamilyMembership.objects.create(family=family, person=person, relationship="head")
    case.family = family
    case.save()
    return f.housed_with_work(case, caseworker)


WHO = ["N-0001", "Aisha Samplova", "Samplov household (test)", "Kosshy (test)"]


def test_the_dashboard_says_who_and_why(client, caseworker, household):
    login(client, caseworker)
    page = client.get(reverse("admin:index")).content.decode()
    overdue = page[page.index('class="overdue-follow-up"') :]
    for text in [household.reference, *WHO[1:]]:
        assert text in overdue
    assert "Waiting for the birth record (test)." in page[page.index('class="blocked-stage"') :]
    assert 'name="q"' in page  # the search box
    assert (
        f"{reverse('admin:programmes_followup_change', args=[FollowUp.objects.get(kind='visit').pk])}?from=case" in page
    )


@pytest.mark.parametrize(
    "url", ["programmes_followup_changelist", "programmes_stagerecord_changelist", "casework_referral_changelist"]
)
def test_every_worklist_says_who(client, caseworker, household, url, agency):
    consent = f.cw.Consent.objects.create(
        person=household.person,
        agency=agency,
        purpose="schooling",
        given_on=household.arrival_date,
        recorded_by=caseworker,
    )
    f.cw.Referral.objects.create(
        case=household, agency=agency, purpose="schooling", consent=consent, referred_by=caseworker
    )
    login(client, caseworker)
    page = client.get(reverse(f"admin:{url}")).content.decode()
    for text in [household.reference, *WHO[1:]]:
        assert text in page
    assert reverse("admin:casework_case_change", args=[household.pk]) in page


def test_the_closure_request_list_says_who(client, caseworker, household):
    closure.case_closure_request(case_id=household.pk, by=caseworker, reason="Settled (test).")
    login(client, caseworker)
    page = client.get(reverse("admin:casework_closurerequest_changelist")).content.decode()
    for text in [household.reference, *WHO[1:]]:
        assert text in page


def test_follow_ups_have_one_filter_per_title(client, caseworker, household):
    login(client, caseworker)
    page = client.get(reverse("admin:programmes_followup_changelist")).content.decode()
    assert page.count("By kind") == 1 and "By stage kind" in page
    assert "View site" not in page


def test_a_follow_up_recorded_from_the_case_page_goes_back_to_it(client, caseworker, household):
    login(client, caseworker)
    follow_up = FollowUp.objects.get(kind="visit")
    url = reverse("admin:programmes_followup_change", args=[follow_up.pk]) + "?from=case"
    today = household.enrolments.get().programme.local_today()
    response = client.post(
        url,
        {
            "kind": "visit",
            "due_date": follow_up.due_date.isoformat(),
            "assignee": "",
            "done_on": today.isoformat(),
            "outcome": "Visited; all well (test).",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:casework_case_change", args=[household.pk])
    follow_up.refresh_from_db()
    assert follow_up.outcome == "Visited; all well (test)."


def test_a_note_saved_on_the_case_page_stays_on_it(client, caseworker, household):
    from tests.admin_forms import admin_form_data

    login(client, caseworker)
    url = reverse("admin:casework_case_change", args=[household.pk])
    data = admin_form_data(client.get(url))
    data.update({"notes-TOTAL_FORMS": "1", "notes-0-body": "Called the school (test).", "_save": "Save"})
    response = client.post(url, data)
    assert response.status_code == 302 and response["Location"] == url
    assert household.notes.filter(body="Called the school (test).").exists()


def test_a_name_stays_hidden_from_staff_who_may_not_see_the_person(caseworker, household):
    from backoffice.who import NAME_VISIBLE, with_who

    outsider = f.UserFactory(username="nobody")
    rows = with_who(FollowUp.objects.filter(kind="visit"), outsider, case_path="stage__enrolment__case")
    assert getattr(rows.get(), NAME_VISIBLE) is False
    rows = with_who(FollowUp.objects.filter(kind="visit"), caseworker, case_path="stage__enrolment__case")
    assert getattr(rows.get(), NAME_VISIBLE) is True


# --- closure on the case page ---------------------------------------------------------


def test_closure_is_requested_on_the_case_page_in_one_step(client, caseworker, supervisor, household):
    login(client, caseworker)
    case_url = reverse("admin:casework_case_change", args=[household.pk])
    assert 'id="request-closure"' in client.get(case_url).content.decode()
    response = client.post(
        reverse("admin:casework_case_closure_request", args=[household.pk]), {"reason": "Settled (test)."}
    )
    assert response.status_code == 302 and response["Location"] == case_url
    request = ClosureRequest.objects.get()
    assert (request.requested_by, request.reason, request.status) == (caseworker, "Settled (test).", "pending")
    page = client.get(case_url).content.decode()
    assert 'id="request-closure"' not in page and "Closure requested by" in page
    # An empty reason is a message, not a request.
    request.delete()
    client.post(reverse("admin:casework_case_closure_request", args=[household.pk]), {"reason": " "})
    assert not ClosureRequest.objects.exists()


def test_a_caseworker_of_another_programme_cannot_request_closure(client, other_caseworker, household):
    login(client, other_caseworker)
    response = client.post(
        reverse("admin:casework_case_closure_request", args=[household.pk]), {"reason": "Forged (test)."}
    )
    assert response.status_code == 404
    assert not ClosureRequest.objects.exists()


def test_the_request_form_has_no_comment_for_the_caseworker_to_lose(client, caseworker, household):
    login(client, caseworker)
    page = client.get(reverse("admin:casework_closurerequest_add")).content.decode()
    assert 'name="comment"' not in page


def test_the_supervisor_decides_on_the_decision_page(client, caseworker, supervisor, household, mailoutbox):
    request = closure.case_closure_request(case_id=household.pk, by=caseworker, reason="Settled (test).")
    # The caseworker sees the request, not the decision.
    login(client, caseworker)
    url = reverse("admin:casework_closurerequest_change", args=[request.pk])
    page = client.get(url).content.decode()
    assert 'name="approve"' not in page and "Aisha Samplova" in page
    client.post(url, {"approve": "1", "comment": ""})
    request.refresh_from_db()
    assert request.status == "pending"

    login(client, supervisor, "Supervisors")
    page = client.get(url).content.decode()
    assert 'name="approve"' in page and "Waiting for the birth record (test)." in page
    assert 'class="open-follow-up"' in page
    # A rejection without a comment is a field error; nothing is decided.
    page = client.post(url, {"reject": "1", "comment": "  "}).content.decode()
    assert "Say why the closure is rejected." in page
    request.refresh_from_db()
    assert request.status == "pending"
    response = client.post(url, {"reject": "1", "comment": "First the birth record (test)."})
    assert response["Location"] == reverse("admin:casework_case_change", args=[household.pk])
    request.refresh_from_db()
    assert (request.status, request.decided_by, request.comment) == (
        "rejected",
        supervisor,
        "First the birth record (test).",
    )
    notice = Notification.objects.get(kind=closure.CLOSURE_DECIDED)
    assert notice.recipient == caseworker
    # The case page shows the decision and its comment; a new request can be made.
    login(client, caseworker)
    page = client.get(reverse("admin:casework_case_change", args=[household.pk])).content.decode()
    assert "First the birth record (test)." in page and 'id="request-closure"' in page


def test_the_decision_e_mail_tells_the_caseworker_where_the_comment_is(caseworker, supervisor, household, mailoutbox):
    from notifications import delivery

    request = closure.case_closure_request(case_id=household.pk, by=caseworker, reason="Settled (test).")
    closure.case_closure_decide(request_id=request.pk, by=supervisor, approve=False, comment="Not yet (test).")
    Notification.objects.exclude(kind=closure.CLOSURE_DECIDED).delete()
    (claimed,) = delivery.notifications_claim()
    assert delivery.notification_send(notification_id=claimed) == "sent"
    (message,) = mailoutbox
    assert message.to == [caseworker.email]
    assert household.reference in message.subject and "rejected" in message.subject
    # The comment is free text about the case: it stays on the case page, where retention
    # reaches it, and the e-mail only says there is one.
    assert "Not yet (test)." not in message.body
    assert "Not yet (test)." not in message.alternatives[0][0]
    assert "comment is on the case page" in message.body


def test_approval_closes_the_case_and_tells_the_caseworker(client, caseworker, supervisor, household):
    request = closure.case_closure_request(case_id=household.pk, by=caseworker, reason="Settled (test).")
    login(client, supervisor, "Supervisors")
    client.post(
        reverse("admin:casework_closurerequest_change", args=[request.pk]), {"approve": "1", "comment": "Agreed."}
    )
    household.refresh_from_db()
    assert household.status == CaseStatus.CLOSED
    assert Notification.objects.filter(kind=closure.CLOSURE_DECIDED, recipient=caseworker).exists()
    page = client.get(reverse("admin:casework_case_change", args=[household.pk])).content.decode()
    assert 'data-case-status="closed"' in page


def test_a_supervisor_of_another_programme_gets_not_found(client, other_programme, caseworker, household):
    from programmes.models import ProgrammeMembershipRole

    request = closure.case_closure_request(case_id=household.pk, by=caseworker, reason="Settled (test).")
    outsider = f.add_member(other_programme, f.UserFactory(username="sup2"), ProgrammeMembershipRole.SUPERVISOR)
    login(client, outsider, "Supervisors")
    url = reverse("admin:casework_closurerequest_change", args=[request.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"approve": "1"}).status_code == 404
    request.refresh_from_db()
    assert request.status == "pending"


# --- the supervisor's desk ------------------------------------------------------------


def test_the_supervisors_desk(client, caseworker, supervisor, household, programme):
    from programmes import reports

    request = closure.case_closure_request(case_id=household.pk, by=caseworker, reason="Settled (test).")
    report = reports.report_send(
        programme=programme, period=reports.period_last_complete(programme, programme.report_frequency)
    )
    login(client, supervisor, "Supervisors")
    page = client.get(reverse("admin:index")).content.decode()
    desk = page[page.index('id="supervisor-desk"') :]
    assert 'data-count="pending-closures">1<' in desk
    assert reverse("admin:casework_closurerequest_change", args=[request.pk]) in desk
    assert "Aisha Samplova" in desk
    row = desk[desk.index('data-caseworker="caseworker"') :]
    row = row[: row.index("</tr>")]
    # One open case, the documents stage blocked, the visit overdue.
    assert 'data-count="open-cases" href="/admin/casework/case/?mine=all&amp;caseworker=' in row
    assert ">1</a>" in row[row.index('data-count="blocked-stages"') :]
    assert ">1</a>" in row[row.index('data-count="overdue-follow-ups"') :]
    assert reverse("admin:programmes_stagereport_email", args=[report.pk]) in desk

    # The counts' links open the lists they count.
    listed = client.get(
        reverse("admin:programmes_followup_changelist") + f"?caseworker={caseworker.pk}&overdue=yes"
    ).content.decode()
    assert "Aisha Samplova" in listed and "1 follow-up" in listed
    listed = client.get(
        reverse("admin:programmes_stagerecord_changelist") + f"?caseworker={caseworker.pk}&status__exact=blocked"
    ).content.decode()
    assert "Waiting for the birth record (test)." in listed


def test_supervisors_open_stored_reports_and_caseworkers_do_not(client, caseworker, supervisor, programme):
    from programmes import reports

    report = reports.report_send(
        programme=programme, period=reports.period_last_complete(programme, programme.report_frequency)
    )
    login(client, supervisor, "Supervisors")
    assert client.get(reverse("admin:programmes_stagereport_changelist")).status_code == 200
    assert client.get(reverse("admin:programmes_stagereport_email", args=[report.pk])).status_code == 200
    login(client, caseworker)
    assert client.get(reverse("admin:programmes_stagereport_changelist")).status_code == 403
    assert 'id="supervisor-desk"' not in client.get(reverse("admin:index")).content.decode()


# --- exports ----------------------------------------------------------------------------


def test_a_filtered_list_exports_to_csv_with_formulas_neutralised_and_audited(
    client, caseworker, household, other_case
):
    from audit.models import AuditEntry

    documents = StageRecord.objects.get(enrolment__case=household, stage_type__code="documents")
    StageRecord.objects.filter(pk=documents.pk).update(status_reason='=HYPERLINK("http://x.test","open") (test)')
    login(client, caseworker)
    response = client.get(reverse("admin:programmes_stagerecord_export", args=["csv"]) + "?status__exact=blocked")
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Case,Person,Age,Family,Place,Stage type,Status")
    assert len(lines) == 2  # the header and the one blocked stage
    assert "N-0001,Aisha Samplova" in lines[1] and "'=HYPERLINK" in lines[1]
    entry = AuditEntry.objects.get(additional_data__export="csv")
    assert (entry.actor, entry.object_ids, entry.persons) == (caseworker, [documents.pk], f"|{household.person_id}|")


def test_the_case_list_exports_to_xlsx_only_what_the_user_sees(client, caseworker, household, other_case):
    import io

    from openpyxl import load_workbook

    login(client, caseworker)
    page = client.get(reverse("admin:casework_case_changelist") + "?mine=all").content.decode()
    assert reverse("admin:casework_case_export", args=["xlsx"]) + "?mine=all" in page
    response = client.get(reverse("admin:casework_case_export", args=["xlsx"]) + "?mine=all")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:2] == ["Reference", "Person"]
    assert [row[0] for row in rows[1:]] == ["N-0001"]  # not the other programme's S-0001
    assert rows[1][1] == "Aisha Samplova"
    # A search narrows the file as it narrows the list.
    response = client.get(reverse("admin:casework_case_export", args=["csv"]) + "?mine=all&q=Nobodyknown")
    assert len(response.content.decode("utf-8-sig").splitlines()) == 1


def test_an_unknown_format_or_bad_filter_exports_nothing(client, caseworker, household):
    from audit.models import AuditEntry

    login(client, caseworker)
    assert client.get(reverse("admin:programmes_followup_export", args=["pdf"])).status_code == 404
    response = client.get(reverse("admin:programmes_followup_export", args=["csv"]) + "?nosuchfield=1")
    assert response.status_code == 302
    assert not AuditEntry.objects.filter(additional_data__has_key="export").exists()


def test_no_export_of_any_list_carries_another_programmes_rows(client, other_caseworker, household):
    from django.contrib import admin

    from backoffice.exports import ExportMixin

    login(client, other_caseworker)
    exported = 0
    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, ExportMixin):
            continue
        opts = model._meta
        for query in ("", "?mine=all"):
            body = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_export", args=["csv"]) + query)
            text = body.content.decode("utf-8-sig")
            assert "N-0001" not in text and "Samplova" not in text, opts.label
            exported += 1
    assert exported >= 8


# --- the case page for a home visit ----------------------------------------------------


def test_the_case_page_has_what_a_home_visit_needs(client, caseworker, programme, household):
    from casework.models import PersonName
    from programmes.models import DocumentRequest, ProgrammeMembershipRole, SchoolPlacement

    person = household.person
    person.languages = ["kk", "ar"]
    person.save()
    PersonName.objects.create(person=person, full_name="Umm Testalias", script="latin", kind="alias")
    PersonName.objects.create(person=person, full_name="Айша Сэмплова", script="cyrillic", kind="spelling")
    documents = StageRecord.objects.get(enrolment__case=household, stage_type__code="documents")
    DocumentRequest.objects.create(stage=documents, document_type="passport", requested_on=datetime.date(2026, 11, 1))
    employment = StageRecord.objects.get(enrolment__case=household, stage_type__code="employment")
    SchoolPlacement.objects.create(
        stage=employment,
        institution="Evening school 3 (test)",
        level="school",
        enrolled_on=datetime.date(2026, 11, 2),
    )
    login(client, caseworker)
    page = client.get(reverse("admin:casework_case_change", args=[household.pk])).content.decode()
    assert page.index('id="case-status"') < page.index('id="stages"')  # the status first
    assert "Kazakh" in page[page.index('id="languages"') :][:200]
    housing = page[page.index('id="housing-line"') :][:400]
    assert "Kosshy (test)" in housing and "12 Orchard Street" in housing
    assert "Evening school 3 (test)" in page[page.index('id="school-line"') :][:300]
    assert "Passport requested" in page[page.index('id="documents-line"') :][:300]
    assert 'data-name-kind="alias">Umm Testalias' in page and "Alias or kunya" in page
    assert 'data-name-kind="spelling">Айша Сэмплова' in page

    # Another caseworker of the programme sees the case, not the alias or the address.
    colleague = f.add_member(programme, f.UserFactory(username="colleague"), ProgrammeMembershipRole.CASEWORKER)
    login(client, colleague)
    page = client.get(reverse("admin:casework_case_change", args=[household.pk])).content.decode()
    assert "Kosshy (test)" in page
    assert "Umm Testalias" not in page and "12 Orchard Street" not in page


def test_the_case_page_shows_phones_relatives_and_the_interpreter_need(client, caseworker, programme, household):
    from casework.models import ReceivingRelative

    person = household.person
    person.phone, person.interpreter_needed, person.interpreter_language = "+7 000 111 22 33", True, "ar"
    person.save()
    ReceivingRelative.objects.create(
        family=household.family,
        name="Gulnara Receivingova (test)",
        relationship="sibling",
        phone="+7 000 444 55 66",
        address="7 Relatives lane, Demo town (test)",
    )
    login(client, caseworker)
    page = client.get(reverse("admin:casework_case_change", args=[household.pk])).content.decode()
    assert "Interpreter needed: Arabic" in page[page.index('id="interpreter"') :][:200]
    family = page[page.index('id="family"') : page.index('id="family-tracing"')]
    assert "+7 000 111 22 33" in family
    for value in ("Gulnara Receivingova (test)", "Brother or sister", "+7 000 444 55 66", "7 Relatives lane"):
        assert value in family, value

    # Editing the relative from the case page goes back to it.
    relative = ReceivingRelative.objects.get()
    url = reverse("admin:casework_receivingrelative_change", args=[relative.pk]) + f"?case={household.pk}"
    assert url.split("?")[0] in page
    form = {
        "family": household.family.pk,
        "name": "Gulnara Receivingova (test)",
        "relationship": "sibling",
        "phone": "+7 000 444 55 77",
        "address": "8 Relatives lane",
        "_save": "Save",
    }
    answer = client.post(url, form)
    assert answer.status_code == 302 and answer.url == reverse("admin:casework_case_change", args=[household.pk])
    relative.refresh_from_db()
    assert relative.phone == "+7 000 444 55 77" and relative.created_by is None
    refused = client.post(url, {**form, "phone": "call me"})
    assert refused.status_code == 200 and "digits" in refused.content.decode()


def test_a_relative_contacted_is_added_from_the_case_page_and_counted(client, caseworker, programme, household):
    from programmes.models import RelativeContact

    login(client, caseworker)
    case_url = reverse("admin:casework_case_change", args=[household.pk])
    page = client.get(case_url).content.decode()
    assert 'id="add-relative-contact"' in page and "No relative contacted yet." in page
    post = reverse("admin:casework_case_relative_contact", args=[household.pk])
    body = {
        "tracing-relative_name": "Uncle Tracedov (test)",
        "tracing-relationship": "aunt_uncle",
        "tracing-method": "red_cross",
        "tracing-contacted_on": "2026-11-20",
        "tracing-outcome": "refuses",
        "tracing-reason": "",
    }
    # A refusal needs its reason: nothing is recorded, the page says why.
    answer = client.post(post, body, follow=True)
    assert "Say why the relative refuses contact." in answer.content.decode()
    assert not RelativeContact.objects.exists()
    answer = client.post(post, {**body, "tracing-reason": "Afraid of the neighbours (test)"})
    assert answer.status_code == 302 and answer.url == case_url
    contact = RelativeContact.objects.get()
    assert contact.stage.stage_type.kind == "housing" and contact.stage.enrolment.case == household
    tracing = client.get(case_url).content.decode()
    tracing = tracing[tracing.index('id="family-tracing"') :][:1500]
    for value in ("Uncle Tracedov (test)", "Aunt or uncle", "Through the Red Cross", "Refuses contact", "neighbours"):
        assert value in tracing, value


def test_a_caseworker_of_another_programme_cannot_add_a_relative_contacted(client, other_caseworker, household):
    from programmes.models import RelativeContact

    login(client, other_caseworker)
    post = reverse("admin:casework_case_relative_contact", args=[household.pk])
    body = {
        "tracing-relative_name": "X (test)",
        "tracing-relationship": "parent",
        "tracing-method": "phone",
        "tracing-contacted_on": "2026-11-20",
        "tracing-outcome": "pending",
    }
    assert client.post(post, body).status_code == 404
    assert not RelativeContact.objects.exists()


def test_the_report_preview_links_cases_and_gives_block_reasons(client, caseworker, supervisor, household, programme):
    today = programme.local_today()
    StageRecord.objects.filter(enrolment__case=household, stage_type__code="psychological").update(
        planned_start=today - datetime.timedelta(days=20), due_date=today - datetime.timedelta(days=2)
    )
    login(client, supervisor, "Supervisors")
    url = reverse("admin:programmes_programme_report_preview", args=[programme.pk])
    page = client.get(url).content.decode()
    blocked = page[page.index('id="preview-blocked"') :]
    assert "Waiting for the birth record (test)." in blocked
    assert reverse("admin:casework_case_change", args=[household.pk]) in blocked
    overdue = page[page.index('id="preview-overdue"') :]
    assert f'<a href="{reverse("admin:casework_case_change", args=[household.pk])}">N-0001</a>' in overdue
    email = client.get(url + "?as=email").content.decode()
    assert "Waiting for the birth record" not in email  # the e-mail names cases by reference only
    login(client, caseworker)
    assert client.get(url).status_code == 404
