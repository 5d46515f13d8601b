"""A Python client generated from docs/openapi.yaml (openapi-python-client) works against the
running application: as the demo `school` it lists its referred children, records a school
placement, reads it back and sees the stage start."""

import datetime
import importlib
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def json_only_schema(path: Path) -> Path:
    """The schema with JSON request bodies only: the client speaks JSON (the generator also
    mistypes operations that accept several body types)."""
    schema = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
    for operations in schema["paths"].values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
            for media_type in [media_type for media_type in content if media_type != "application/json"]:
                del content[media_type]
    path.write_text(yaml.safe_dump(schema), encoding="utf-8")
    return path


@pytest.fixture
def generated_client(tmp_path, monkeypatch):
    """The client package, generated into a temporary directory and importable."""
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            str(json_only_schema(tmp_path / "openapi.json.yaml")),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / "rehab_client"),
        ],
        check=True,
        capture_output=True,
        # Its post-generation hooks run ruff from the same environment.
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        timeout=300,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("rehab_client")
    for name in [name for name in sys.modules if name == "rehab_client" or name.startswith("rehab_client.")]:
        del sys.modules[name]


def test_a_client_generated_from_the_schema_records_a_school_placement(
    generated_client, live_server, transactional_db, settings
):
    from rehab_client import AuthenticatedClient
    from rehab_client.api.cases import cases_list
    from rehab_client.api.school_placements import school_placements_create, school_placements_retrieve
    from rehab_client.api.stages import stages_list, stages_retrieve
    from rehab_client.models import LevelEnum, SchoolPlacementRequest

    settings.DEBUG = True
    call_command("seed_demo", "--size", "120", "--seed", "4", stdout=StringIO(), verbosity=0)
    out = StringIO()
    call_command("issue_token", "school", "--days", "1", stdout=out, stderr=StringIO())
    client = AuthenticatedClient(base_url=live_server.url, token=out.getvalue().strip(), prefix="Token")

    cases = cases_list.sync(client=client)
    assert cases.count >= 1
    case_ids = {case.id for case in cases.results}
    stages = stages_list.sync(client=client, page_size=200).results
    planned = next(stage for stage in stages if stage.status.value == "planned")
    assert planned.case in case_ids

    created = school_placements_create.sync(
        client=client,
        body=SchoolPlacementRequest(
            stage=planned.id,
            institution="School No. 7 (demo)",
            level=LevelEnum.SCHOOL,
            grade=2,
            enrolled_on=datetime.date.today(),
        ),
    )
    read = school_placements_retrieve.sync(created.id, client=client)
    assert (read.stage, read.institution, read.grade) == (planned.id, "School No. 7 (demo)", 2)
    assert stages_retrieve.sync(planned.id, client=client).status.value == "active"
