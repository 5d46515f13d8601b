"""The layers of docs/architecture.md hold, and an import up the layers breaks the build.

``make test`` runs ``lint-imports`` over the project; these tests run it over a copy
of the project with one import added where it does not belong, so a contract that
stopped protecting anything would fail here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "core",
    "accounts",
    "audit",
    "notifications",
    "casework",
    "programmes",
    "justice",
    "lifecycle",
    "api",
    "backoffice",
    "config",
]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "templates"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(module: Path, line: str) -> None:
    module.write_text(module.read_text() + "\n" + line + "\n")


def test_the_project_keeps_its_layers():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "arrow"),
    [
        # casework sits below programmes: no cycle between the two domain apps.
        ("casework/names.py", "from programmes import models as _up  # noqa", "casework.names -> programmes.models"),
        # A function-local import counts like any other.
        (
            "casework/selectors.py",
            "def _hidden():\n    from programmes.selectors import stage_visible_to  # noqa",
            "casework.selectors -> programmes.selectors",
        ),
        # The outbox learns its kinds from the producers; it never imports them.
        (
            "notifications/emails.py",
            "import programmes.reminders  # noqa",
            "notifications.emails -> programmes.reminders",
        ),
        # The justice track sits above programmes: programmes learns its report sections by registration.
        ("programmes/reports.py", "import justice.models  # noqa", "programmes.reports -> justice.models"),
        # The domain never reaches into its doors.
        ("programmes/workflow.py", "import api.base  # noqa", "programmes.workflow -> api.base"),
        ("lifecycle/closure.py", "import backoffice.scoping  # noqa", "lifecycle.closure -> backoffice.scoping"),
        # The API and the admin are siblings that do not lean on each other.
        ("api/base.py", "import backoffice.scoping  # noqa", "api.base -> backoffice.scoping"),
        # The core is the bottom: it imports no app.
        ("core/roles.py", "import casework.models  # noqa", "core.roles -> casework.models"),
        # config is wiring on top: nothing below imports it.
        ("programmes/reports.py", "import config.celery  # noqa", "programmes.reports -> config.celery"),
    ],
)
def test_an_import_up_the_layers_breaks_the_contract(project_copy, module, line, arrow):
    add_import(project_copy / module, line)
    result = lint_imports(project_copy)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert arrow in " ".join(result.stdout.split())


def test_the_core_may_not_use_the_api_framework(project_copy):
    add_import(project_copy / "core/errors.py", "import rest_framework  # noqa")
    result = lint_imports(project_copy)
    assert result.returncode != 0
    assert "core.errors -> rest_framework" in " ".join(result.stdout.split())
