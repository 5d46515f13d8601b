import pytest

from tests.conftest import force_login

pytestmark = pytest.mark.django_db


def test_api_root_lists_collections_for_a_signed_in_user(client, caseworker):
    force_login(client, caseworker)
    response = client.get("/api/v1/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert "programmes" in response.json()


def test_anonymous_callers_get_nothing(client, programme):
    response = client.get("/api/v1/programmes/", HTTP_ACCEPT="application/json")
    assert response.status_code in (401, 403)


def test_programmes_are_scoped_to_the_caller(client, caseworker, programme, other_programme):
    force_login(client, caseworker)
    response = client.get("/api/v1/programmes/", HTTP_ACCEPT="application/json")
    codes = [p["code"] for p in response.json()["results"]]
    assert codes == ["north"]
    assert len(response.json()["results"][0]["stage_types"]) == 7
