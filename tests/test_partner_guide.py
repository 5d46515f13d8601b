"""docs/partners.md: every curl example of the partner guide, run in order as the demo `school`
user, answers the status the guide says it does."""

import re
import shlex
from io import StringIO
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from casework.models import ReferralStatus
from casework.selectors import referral_visible_to
from programmes.models import SchoolPlacement, StageKind
from programmes.selectors import stage_visible_to

pytestmark = pytest.mark.django_db

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "partners.md"
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def guide_examples() -> list[tuple[list[str], int]]:
    """(curl arguments, expected status) for each curl block of the guide, in order."""
    examples = []
    for block in BLOCK.findall(GUIDE.read_text(encoding="utf-8")):
        text = block.replace("\\\n", " ")
        if not text.lstrip().startswith("curl "):
            continue
        command, expected = re.fullmatch(r"\s*(curl .*?)\n# → (\d{3})\n\s*", text, re.S).groups()
        examples.append((command, int(expected)))
    return examples


def request(client: APIClient, command: str, variables: dict):
    """The Django test client's version of one curl command line of the guide."""
    # Split first, then expand, as the shell does: an ETag keeps its quotes.
    args = [Template(arg).substitute(variables) for arg in shlex.split(command)[1:]]
    method, headers, data, url = "GET", {}, None, None
    while args:
        arg = args.pop(0)
        if arg == "-X":
            method = args.pop(0)
        elif arg == "-H":
            name, value = args.pop(0).split(":", 1)
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            data = args.pop(0)
        elif arg in ("-s", "-i"):
            continue
        else:
            url = arg
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    extra = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    content_type = extra.pop("HTTP_CONTENT_TYPE", None)
    call = getattr(client, method.lower())
    if data is not None:
        return call(path, data, content_type=content_type, **extra)
    return call(path, **extra)


def test_the_guides_curl_examples_answer_what_the_guide_says(settings):
    settings.DEBUG = True
    call_command("seed_demo", "--size", "120", "--seed", "4", stdout=StringIO(), verbosity=0)
    out = StringIO()
    call_command("issue_token", "school", "--days", "90", stdout=out, stderr=StringIO())
    token = out.getvalue().strip()
    school = get_user_model().objects.get(username="school")
    pending = referral_visible_to(school).filter(status=ReferralStatus.PENDING).order_by("pk").first()
    stage = (
        stage_visible_to(school)
        .filter(stage_type__kind=StageKind.SCHOOLING)
        .exclude(pk__in=SchoolPlacement.objects.values("stage_id"))
        .order_by("pk")
        .first()
    )
    assert pending is not None and stage is not None
    variables = {
        "API": "https://rehab.example.org/api/v1",
        "TOKEN": token,
        "REFERRAL": pending.pk,
        "STAGE": stage.pk,
        "TODAY": timezone.localdate().isoformat(),
    }
    client = APIClient()
    examples = guide_examples()
    assert len(examples) >= 12
    for command, expected in examples:
        response = request(client, command, variables)
        assert response.status_code == expected, (command, response.status_code, response.content[:300])
        # What the reader takes from an answer for the next examples.
        if "/school-placements/" in command and response.status_code == 201:
            variables["PLACEMENT"] = response.json()["id"]
        if "$PLACEMENT" in command and " -X " not in command:
            variables["ETAG"] = response["ETag"]
    pending.refresh_from_db()
    assert pending.status == ReferralStatus.ACCEPTED
    placement = SchoolPlacement.objects.get(pk=variables["PLACEMENT"])
    assert (placement.stage_id, placement.grade) == (stage.pk, 4)
