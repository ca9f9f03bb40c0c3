"""The ledger over HTTP (``incentives serve --ledger``): events in, entitlements, journal and report out."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import credit_code
from serving import running

LF = credit_code("91131024MA0CTX8K4")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    db = tmp_path_factory.mktemp("ledger") / "ledger.db"
    with running("--ledger", str(db)) as server, server.client() as c:
        yield c


def event(**fields: object) -> str:
    return json.dumps(fields, ensure_ascii=False)


def test_events_make_entitlements_that_are_paid_and_refused_beyond_what_is_owed(client: httpx.Client) -> None:
    profile = {"name": "测试企业", "credit_code": LF, "city": "langfang", "county": "香河县",
               "clusters": ["香河智慧家居"], "size": "small"}
    record = {"id": "A", "kind": "recognition", "date": "2026-03-01", "title": "cluster_leader", "level": "provincial"}
    added = client.post("/v1/ledger/events", content=event(id="a", type="record_added", at="2026-03-01",
                                                           credit_code=LF, enterprise=profile, record=record))
    assert added.status_code == 200, added.text
    assert added.json()["events"] == 1 and added.json()["journal"][0]["clause"] == "廊政办规〔2025〕5号 三、1"
    assert added.headers["x-rulebook-hash"].startswith("sha256:")
    [ent] = client.get("/v1/ledger/entitlements", params={"credit_code": LF}).json()
    assert (ent["rule_id"], ent["unit"], ent["state"]) == ("lf.leader.provincial", ["enterprise"], "owed")
    assert ent["owed"] == {"city": "150000.00", "county": "150000.00"} == ent["payable"]

    payments = "\n".join(event(id=f"pay-{payer}", type="payment_confirmed", at="2026-04-01", credit_code=LF,
                               rule_id="lf.leader.provincial", unit=["enterprise"], payer=payer, amount="150000.00")
                         for payer in ("city", "county"))
    paid = client.post("/v1/ledger/events", content=payments, headers={"content-type": "application/x-ndjson"})
    assert paid.status_code == 200 and paid.json()["events"] == 2
    [ent] = client.get("/v1/ledger/entitlements", params={"credit_code": LF}).json()
    assert ent["state"] == "paid" and ent["payable"] == {}

    too_much = client.post("/v1/ledger/events", content=event(
        id="pay-again", type="payment_confirmed", at="2026-04-02", credit_code=LF, rule_id="lf.leader.provincial",
        unit=["enterprise"], payer="city", amount="1.00"))
    assert too_much.status_code == 409 and too_much.headers["content-type"] == "application/problem+json"
    assert too_much.json()["type"] == "urn:incentives:problem:payment-refused"
    journal = client.get("/v1/ledger/journal", params={"credit_code": LF}).json()
    assert [j["event_id"] for j in journal] == ["a", "pay-city", "pay-county"]   # the refused one wrote nothing
    report = {line["key"]: line for line in client.get("/v1/ledger/report", params={"by": "payer"}).json()}
    assert report["city"]["paid"] == "150000.00" and report["county"]["committed"] == "150000.00"

    bad = client.post("/v1/ledger/events", content='{"id": "x", "type": "clock"}\n')
    assert bad.status_code == 422 and bad.json()["field"] == "at" and bad.json()["location"] == "<body>:1"


def test_a_body_that_is_not_utf8_or_not_json_writes_nothing(client: httpx.Client) -> None:
    code = credit_code("91131024MA0CTX8K5")
    good = event(id="gbk-0", type="record_added", at="2026-03-01", credit_code=code,
                 record={"id": "A", "kind": "recognition", "date": "2026-03-01", "title": "cluster_leader",
                         "level": "provincial"},
                 enterprise={"name": "测试企业", "credit_code": code, "city": "langfang", "county": "香河县"})
    gbk = good.replace('"gbk-0"', '"gbk-1"').encode("utf-8").replace("测试企业".encode(), "测试企业".encode("gbk"))
    for body, status, where, detail in (
            (good.encode() + b"\n" + gbk, 400, "<body>:2:", "not UTF-8 text"),          # was stored as U+FFFD
            (good.encode() + b"\n" + b"[" * 30_000, 400, "<body>:2", "not valid JSON: nested too deep"),
            (good.encode() + b'\n{"n": ' + b"9" * 5000 + b"}", 400, "<body>:2", "not valid JSON: Exceeds the limit"),
            (good.encode() + b"\n{,}", 400, "<body>:2:2", "not valid JSON: Expecting property name")):
        answer = client.post("/v1/ledger/events", content=body, headers={"content-type": "application/x-ndjson"})
        assert answer.status_code == status and answer.json()["detail"].startswith(detail), answer.text
        assert answer.json()["location"].startswith(where)
        assert client.get("/v1/ledger/entitlements", params={"credit_code": code}).json() == []   # line 1 too
    # a JSON string may hold U+2028 (a line separator to str.splitlines, not to JSON Lines)
    sep = json.loads(good)
    sep["enterprise"]["name"] = "测试\u2028企业"
    answer = client.post("/v1/ledger/events", content=json.dumps(sep, ensure_ascii=False).encode())
    assert answer.status_code == 200 and answer.json()["events"] == 1, answer.text


def test_a_database_that_restarts_is_reached_again_and_one_that_is_down_is_503(tmp_path: Path) -> None:
    import socket
    import subprocess

    from conftest import PostgresServer
    root = Path(tempfile.mkdtemp(prefix="incentives-pg-"))   # a server of its own: this test restarts it
    root.chmod(0o755)
    try:
        database = PostgresServer(root)
    except Exception as e:  # noqa: BLE001 - as the postgres fixture: skipped only where it cannot start
        shutil.rmtree(root, ignore_errors=True)
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL cannot start here: {e}")
    code = credit_code("91131024MA0CTX8K6")
    add = event(id="r-1", type="record_added", at="2026-03-01", credit_code=code,
                record={"id": "A", "kind": "recognition", "date": "2026-03-01", "title": "cluster_leader",
                        "level": "provincial"},
                enterprise={"name": "测试企业", "credit_code": code, "city": "langfang", "county": "香河县"})
    try:
        with running("--ledger", database.url(), "--workers", "1") as server, server.client() as c:
            assert c.get("/v1/ledger/report").status_code == 200        # connected
            subprocess.run([*database.as_user, str(database.bin / "pg_ctl"), "-D", str(database.data), "-w",
                            "-m", "fast", "-l", str(root / "log"), "restart"], check=True, capture_output=True)
            again = c.post("/v1/ledger/events", content=add)               # the thread's connection was closed
            assert again.status_code == 200 and again.json()["written"] == 1, again.text
            assert [e["state"] for e in c.get("/v1/ledger/entitlements").json()] == ["owed"]
    finally:
        database.stop()
        shutil.rmtree(root, ignore_errors=True)
    with socket.socket() as s:   # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with running("--ledger", f"postgresql://postgres@127.0.0.1:{closed}/none") as server, server.client() as c:
        for answer in (c.get("/v1/ledger/report"), c.post("/v1/ledger/events", content=add)):
            assert answer.status_code == 503 and answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["type"] == "urn:incentives:problem:ledger-unavailable"
            assert answer.json()["detail"].startswith("cannot connect") and "Traceback" not in answer.text


def test_without_a_ledger_there_are_no_ledger_routes(tmp_path: Path) -> None:
    with running() as server, server.client() as c:
        assert c.get("/v1/ledger/entitlements").status_code == 404
