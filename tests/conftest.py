from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from incentives import Enterprise, Rulebook, load_rulebook
from incentives.facts import credit_code_check_digit

# One profile for the suite: no per-example deadline (CI machines are shared and their timing varies),
# and the session-scoped rulebook fixture is safe to share between examples.
settings.register_profile("incentives", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("incentives")

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"


def credit_code(body: str = "91131024MA0CTX8K4") -> str:
    """A valid unified social credit code from its first 17 characters."""
    return body + credit_code_check_digit(body)


def outcome(result: Any, rule_id: str, record_id: str | None = "any") -> Any:
    """The not-eligible outcome of ``rule_id`` (for ``record_id`` unless "any")."""
    return next(o for o in result.not_eligible
                if o.rule_id == rule_id and (record_id == "any" or o.record_id == record_id))


def enterprise(records: list[dict[str, Any]], **profile: Any) -> Enterprise:
    base: dict[str, Any] = {"name": "测试企业", "credit_code": credit_code(), "city": "langfang", "county": "香河县",
                            "clusters": ["香河智慧家居"], "size": "small"}
    base.update(profile)
    return Enterprise.model_validate({"enterprise": base, "records": records})


class Records:
    """Builds record dicts for tests, dated ``day`` unless a test says otherwise."""

    def __init__(self, day: dt.date) -> None:
        self.day = day

    def __call__(self, kind: str, **fields: Any) -> dict[str, Any]:
        fields.setdefault("id", f"{kind}-1")
        fields.setdefault("date", self.day)
        return {"kind": kind, **fields}

    def recognition(self, title: str, level: str | None = None, **fields: Any) -> dict[str, Any]:
        return self("recognition", title=title, level=level, **fields)

    def project(self, type_: str, **fields: Any) -> dict[str, Any]:
        return self("project", type=type_, **fields)


record = Records(dt.date(2026, 1, 15))


def assert_not_eligible(result: Any, rule_id: str, reason: str) -> None:
    """``rule_id`` pays nothing, and one of its reasons contains ``reason``."""
    assert result.award(rule_id) is None
    assert any(reason in r for r in outcome(result, rule_id).reasons), outcome(result, rule_id).reasons


def assert_every_rule_listed(rulebook: Rulebook, city: str, count: int, *tables: list[Any]) -> None:
    """``city`` has ``count`` rules, and each table (rows starting with a rule id) lists every one of them."""
    ids = {r.id for r in rulebook.rules_for(city)}
    assert len(ids) == count
    for table in tables:
        assert {row[0] for row in table} == ids


@functools.cache
def shared_rulebook() -> Rulebook:
    """The real rule files, loaded once for the whole suite."""
    return load_rulebook(RULES)


@pytest.fixture(scope="session")
def book() -> Rulebook:
    return shared_rulebook()


# ------------------------------------------------------------------ a throwaway PostgreSQL server
def _initdb() -> Path | None:
    import shutil

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    on_path = shutil.which("initdb")
    return found[-1] if found else Path(on_path) if on_path else None


class PostgresServer:
    """A PostgreSQL server of its own in a temporary folder, on a free port of 127.0.0.1, with its
    socket in that folder; run as the ``postgres`` system user when the tests run as root."""

    def __init__(self, root: Path) -> None:
        import os
        import socket
        import subprocess

        initdb = _initdb()
        if initdb is None:
            raise RuntimeError("initdb not found (make test installs Debian's postgresql package)")
        self.bin = initdb.parent
        self.root = root
        self.data = root / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            import pwd
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as e:
                raise RuntimeError("running as root and no postgres system user") from e
            os.chown(root, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        run = functools.partial(subprocess.run, check=True, capture_output=True, text=True)
        run([*self.as_user, str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
             "-E", "UTF8", "--locale=C.UTF-8"])
        run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-l",
             str(root / "log"), "-o", f"-p {self.port} -k {root} -c listen_addresses=127.0.0.1 "
             "-c fsync=off -c max_connections=50", "start"])
        self.count = 0

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        import psycopg
        self.count += 1
        name = f"ledger_{self.count}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        _stop_server(self.bin, self.as_user, self.data)


PG_PREFIX = "incentives-pg-"   # incentives-pg-<pid of the test session>-…: the folder of the session's server


def _stop_server(bin: Path, as_user: list[str], data: Path) -> None:
    import subprocess
    subprocess.run([*as_user, str(bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)


def sweep_servers() -> None:
    """Stop the servers of test sessions that were killed (SIGKILL runs no fixture's end: the server runs on
    and holds its port and memory), and remove their folders, as ``scratch_folder`` removes a killed run's."""
    import os
    import shutil
    import tempfile

    from incentives._output import _alive

    initdb = _initdb()
    for old in Path(tempfile.gettempdir()).glob(f"{PG_PREFIX}*"):
        pid = old.name[len(PG_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        if initdb is not None and (old / "data" / "postmaster.pid").exists():
            _stop_server(initdb.parent, ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [], old / "data")
        shutil.rmtree(old, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Any:
    """The session's PostgreSQL server; skipped only where it truly cannot start, never under CI."""
    import os
    import shutil
    import tempfile

    sweep_servers()
    root = Path(tempfile.mkdtemp(prefix=f"{PG_PREFIX}{os.getpid()}-"))
    root.chmod(0o755)
    try:
        import psycopg  # noqa: F401
        server = PostgresServer(root)
    except Exception as e:  # noqa: BLE001 - any failure to start is reported the same way
        detail = getattr(e, "stderr", "") or ""
        shutil.rmtree(root, ignore_errors=True)
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must start under CI: {e} {detail}")
        pytest.skip(f"PostgreSQL cannot start here: {e} {detail}")
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: Any, tmp_path: Path) -> str:
    """A fresh, empty ledger database of each kind."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.db")
    server = request.getfixturevalue("postgres")
    return str(server.new_database())
