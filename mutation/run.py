"""`make mutation`: mutation testing of the modules that guard people and messages.

For each module of mutation/modules.toml (or the ones named on the command line):

1. copy the project's files (tracked and new, not ignored) to var/mutation/NAME/;
2. apply mutation/prepass.py to the module in that copy (never in the source tree),
   so that mutmut reaches its @transaction.atomic functions and module-level tables;
3. run mutmut there, one mutant at a time, with the module's test files only
   (SQLite, the tests' default database);
4. print mutants, killed, survived, documented equivalents, score and wall time,
   and write the survivors' diffs to var/mutation/NAME/survivors.txt.

``python mutation/run.py --report [NAME...]`` prints the figures of the runs already
in var/mutation/ (also of a run still going or stopped) without running anything;
``--recheck [NAME...]`` runs only the last run's survivors (and its timeouts, which a
busy machine can cause) again, with the tests as they are now; ``--resume [NAME...]``
goes on with a stopped run in the same copy (the mutants not checked yet, and the
timeouts again when ``MUTATION_TIMEOUT_MULTIPLIER`` changed).

mutmut stops a mutant's tests after (their own time + 1 s) x the timeout multiplier of
wall time. Its default (15) calls a slow test on a busy shared machine a timeout;
``MUTATION_TIMEOUT_MULTIPLIER`` (60 unless set) leaves room for a load of 8 on 2 cores.

Documented equivalents (docs/mutation-equivalents.md, by mutant name) count as killed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "mutation"
KEPT = "kept_verdicts.json"
EQUIVALENTS = ROOT / "docs" / "mutation-equivalents.md"
PACKAGES = [
    "accounts",
    "api",
    "audit",
    "backoffice",
    "casework",
    "config",
    "core",
    "justice",
    "lifecycle",
    "notifications",
    "programmes",
]
# The tests must use SQLite and the local broker, whatever the calling shell has set.
TIMEOUT_MULTIPLIER = float(os.environ.get("MUTATION_TIMEOUT_MULTIPLIER", "60"))
# Mutants checked at once (mutmut's --max-children): one on a shared machine, the cores on a quiet one.
CHILDREN = os.environ.get("MUTATION_CHILDREN", "1")
CLEARED_ENV = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "REQUIRE_REAL_SERVICES", "DJANGO_SETTINGS_MODULE")


def project_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [p for p in out.split("\0") if p and (ROOT / p).is_file()]


def prepare(name: str, module: dict) -> Path:
    work = WORK / name
    if work.exists():
        shutil.rmtree(work)
    for rel in project_files():
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    (work / "var").mkdir(exist_ok=True)
    subprocess.run([sys.executable, str(ROOT / "mutation" / "prepass.py"), module["source"]], cwd=work, check=True)
    # The tests' database is a file copied from a migrated template at each session
    # (mutation/fastdb.py), in this working copy's settings only.
    with open(work / "config" / "settings.py", "a") as f:
        f.write('\nDATABASES["default"]["TEST"] = {"NAME": environ.Env().str("MUTATION_TEST_DB")}\n')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=work,
        env={**test_env(work), "DATABASE_URL": f"sqlite:///{work / 'var' / 'template.sqlite3'}"},
        check=True,
    )
    others = sorted(p.name for p in work.iterdir() if p.name not in PACKAGES and p.name != "tests")
    config = {
        "source_paths": PACKAGES,
        "only_mutate": [module["source"]],
        "also_copy": others,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-p", "mutation.fastdb", "--reuse-db"],
        "pytest_add_cli_args_test_selection": module["tests"],
        "process_isolation": "fork",
        "timeout_multiplier": TIMEOUT_MULTIPLIER,
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    with open(work / "pyproject.toml", "a") as f:
        f.write("\n".join(lines) + "\n")
    return work


def test_env(work: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env["MUTATION_TEMPLATE_DB"] = str(work / "var" / "template.sqlite3")
    env["MUTATION_TEST_DB"] = str(work / "var" / "test.sqlite3")
    return env


def documented_equivalents() -> set[str]:
    if not EQUIVALENTS.exists():
        return set()
    return set(re.findall(r"`([\w.]+__mutmut_\d+)`", EQUIVALENTS.read_text()))


def mutmut(work: Path, env: dict, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=work, env=env, text=True, **kw)


def run_module(name: str, module: dict) -> dict:
    started = time.monotonic()
    work = prepare(name, module)
    (work / "started").write_text(str(time.time()))
    with open(work / "mutmut.log", "w") as log:
        mutmut(work, test_env(work), "run", "--max-children", CHILDREN, stdout=log, stderr=subprocess.STDOUT)
    (work / "wall_seconds").write_text(str(round(time.monotonic() - started)))
    return summarise(name, module)


def set_timeout_multiplier(work: Path) -> None:
    pyproject = work / "pyproject.toml"
    line = f"timeout_multiplier = {json.dumps(TIMEOUT_MULTIPLIER)}"
    text = pyproject.read_text()
    if re.search(r"^timeout_multiplier = .*$", text, flags=re.M):
        text = re.sub(r"^timeout_multiplier = .*$", line, text, flags=re.M)
    else:
        text = text.rstrip("\n") + "\n" + line + "\n"
    pyproject.write_text(text)


def resume(name: str, module: dict) -> dict:
    """Go on with a run stopped before its end (time box, reboot), in the same copy: mutmut
    keeps its verdicts and checks the rest; the wall time adds up."""
    work = WORK / name
    set_timeout_multiplier(work)
    wall = work / "wall_seconds"
    before = int(wall.read_text()) if wall.exists() else round(time.time() - float((work / "started").read_text()))
    started = time.monotonic()
    with open(work / "mutmut.log", "a") as log:
        mutmut(work, test_env(work), "run", "--max-children", CHILDREN, stdout=log, stderr=subprocess.STDOUT)
    wall.write_text(str(before + round(time.monotonic() - started)))
    return summarise(name, module)


def recheck(name: str, module: dict) -> dict:
    """Run again only the survivors of the last run, with the tests as they are now
    (after adding tests for them): mutmut adds the new tests to its stats first."""
    work = WORK / name
    last = json.loads((work / "result.json").read_text())
    # A timeout on a busy machine is no verdict: those run again too.
    survivors = last["open_survivors"] + last.get("timeouts", [])
    # A new test file in the module's list makes mutmut forget every verdict (its test
    # selection changed): the verdicts of the mutants not run again are kept here.
    kept = verdicts(work)
    kept.update(json.loads((work / KEPT).read_text()) if (work / KEPT).exists() else {})
    (work / KEPT).write_text(json.dumps({m: v for m, v in kept.items() if m not in survivors}, indent=1))
    shutil.copytree(ROOT / "tests", work / "tests", dirs_exist_ok=True)
    # The module's test files as they are listed now (a new file of tests included).
    pyproject = work / "pyproject.toml"
    selection = f"pytest_add_cli_args_test_selection = {json.dumps(module['tests'])}"
    pyproject.write_text(
        re.sub(r"^pytest_add_cli_args_test_selection = .*$", selection, pyproject.read_text(), flags=re.M)
    )
    set_timeout_multiplier(work)
    started = time.monotonic()
    if survivors:
        with open(work / "mutmut-recheck.log", "w") as log:
            mutmut(
                work,
                test_env(work),
                "run",
                "--max-children",
                CHILDREN,
                *survivors,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    (work / "recheck_seconds").write_text(str(round(time.monotonic() - started)))
    return summarise(name, module)


def verdicts(work: Path) -> dict[str, str]:
    """mutmut's verdict of each mutant in this copy ("not checked" for the rest)."""
    listing = mutmut(work, test_env(work), "results", "--all", "true", capture_output=True).stdout
    status = {}
    for line in listing.splitlines():
        mutant, _, verdict = line.strip().partition(": ")
        if "__mutmut_" in mutant:
            status[mutant] = verdict.strip()
    return status


def summarise(name: str, module: dict) -> dict:
    """The figures of the run in var/mutation/NAME/, finished or not (``--report``)."""
    work = WORK / name
    env = test_env(work)
    status = verdicts(work)
    if (work / KEPT).exists():  # the verdicts a recheck did not run again
        for mutant, verdict in json.loads((work / KEPT).read_text()).items():
            if status.get(mutant) == "not checked":
                status[mutant] = verdict
    checked = {m: v for m, v in status.items() if v != "not checked"}
    equivalents = documented_equivalents()
    killed = sum(v in ("killed", "timeout") for v in checked.values())
    survivors = sorted(m for m, v in checked.items() if v not in ("killed", "timeout"))
    equivalent = [m for m in survivors if m in equivalents]
    open_survivors = [m for m in survivors if m not in equivalents]
    with open(work / "survivors.txt", "w") as f:
        for mutant in open_survivors:
            f.write(f"## {mutant}: {status[mutant]}\n")
            f.write(mutmut(work, env, "show", mutant, capture_output=True).stdout + "\n")
    wall = work / "wall_seconds"
    if wall.exists():
        wall_seconds = int(wall.read_text())
    else:  # still running, or stopped: the time so far
        wall_seconds = round(time.time() - float((work / "started").read_text()))
    result = {
        "module": module["source"],
        "mutants": len(status),
        "checked": len(checked),
        "killed": killed,
        "survived": len(open_survivors),
        "equivalent": len(equivalent),
        "score": round(100 * (killed + len(equivalent)) / len(checked), 1) if checked else 0.0,
        "wall_seconds": wall_seconds,
        "open_survivors": open_survivors,
        "timeouts": sorted(m for m, v in checked.items() if v == "timeout"),
    }
    (work / "result.json").write_text(json.dumps(result, indent=2))
    return result


def main(args: list[str]) -> int:
    modules = tomllib.loads((ROOT / "mutation" / "modules.toml").read_text())
    report_only, recheck_only, resume_only = "--report" in args, "--recheck" in args, "--resume" in args
    names = [a for a in args if a not in ("--report", "--recheck", "--resume")]
    results = []
    for name in names or list(modules):
        if report_only:
            result = summarise(name, modules[name])
        elif recheck_only:
            result = recheck(name, modules[name])
        elif resume_only:
            result = resume(name, modules[name])
        else:
            result = run_module(name, modules[name])
        results.append(result)
        partial = "" if result["checked"] == result["mutants"] else f" (only {result['checked']} checked)"
        print(
            f"{result['module']}: {result['mutants']} mutants{partial}, {result['killed']} killed, "
            f"{result['survived']} survived, {result['equivalent']} equivalent, "
            f"score {result['score']} %, {result['wall_seconds']} s",
            flush=True,
        )
        for mutant in result["open_survivors"]:
            print(f"  survived: {mutant}  (diff in var/mutation/{name}/survivors.txt)")
    return 1 if any(r["survived"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
