"""The HTTP API against a real uvicorn: the same JSON as the command line, located problems, limits, reload."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from incentives import load_rulebook
from incentives.cli import main
from incentives.schemas import schema

from conftest import RULES
from serving import EXAMPLES, Server, facts_json, running

AS_OF = "2026-06-30"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running("--max-body", "65536", "--max-batch", "20", "--timeout", "5") as s:
        yield s


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_assess_answers_what_evaluate_prints(client: httpx.Client, example: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    expected = cli_json(capsys, "evaluate", str(example), "--rules", str(RULES), "--as-of", AS_OF, "--format", "json")
    answer = client.post("/v1/assess", params={"as_of": AS_OF}, content=facts_json(example),
                         headers={"content-type": "application/json"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == expected
    assert answer.headers["x-rulebook-hash"] == load_rulebook(RULES).hash == answer.json()["rulebook_hash"]


def test_explain_answers_what_explain_prints(client: httpx.Client, capsys: pytest.CaptureFixture[str]) -> None:
    example = EXAMPLES / "guan-missing-facts.yaml"
    expected = cli_json(capsys, "explain", str(example), "--rules", str(RULES), "--rule", "lf.digital_pilot",
                        "--as-of", AS_OF, "--format", "json")
    answer = client.post("/v1/explain", params={"rule": "lf.digital_pilot", "as_of": AS_OF},
                         content=facts_json(example))
    assert answer.status_code == 200 and answer.json() == expected
    unknown = client.post("/v1/explain", params={"rule": "lf.nope"}, content=facts_json(example))
    assert unknown.status_code == 422 and "no rule 'lf.nope'" in unknown.json()["detail"]


def test_problems_name_the_field_and_place_in_the_body(client: httpx.Client) -> None:
    body = ('{\n  "enterprise": {"name": "某企业", "credit_code": "91131024MA0CTX8K47", "city": "langfang"},\n'
            '  "records": []\n}')
    bad_code = client.post("/v1/assess", content=body)
    assert bad_code.status_code == 422 and bad_code.headers["content-type"] == "application/problem+json"
    problem = bad_code.json()
    assert problem["field"] == "enterprise.credit_code" and problem["location"].startswith("<body>:2:")
    assert "check digit" in problem["detail"] and problem["type"] == "urn:incentives:problem:facts"

    record = {"id": "r1", "kind": "recognition", "title": "cluster_leadr", "level": "provincial", "date": "2025-11-03"}
    facts = json.loads(facts_json(EXAMPLES / "xianghe-leader.yaml"))
    facts["records"] = [record]
    term = client.post("/v1/assess", content=json.dumps(facts, ensure_ascii=False, indent=1)).json()
    assert term["field"] == "records.0.title" and term["suggestion"] == "cluster_leader"
    assert term["type"] == "urn:incentives:problem:vocabulary" and term["location"].startswith("<body>:")

    not_json = client.post("/v1/assess", content='{"enterprise": {,}')
    assert not_json.status_code == 400 and not_json.json()["location"] == "<body>:1:17"
    query = client.post("/v1/assess", params={"as_of": "30/06/2026"}, content=body)
    assert query.status_code == 422 and query.json()["field"] == "query.as_of"
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["x-rulebook-hash"].startswith("sha256:")


def test_json_python_cannot_hold_is_a_located_problem_not_a_crash(client: httpx.Client) -> None:
    deep = "[" * 30_000 + "]" * 30_000
    huge = '{"enterprise": {"name": "x"}, "records": [{"n": ' + "9" * 5000 + "}]}"
    for body, detail in ((deep, "not valid JSON: nested too deep"),
                         (huge, "not valid JSON: Exceeds the limit (4300 digits) for integer string conversion")):
        for route in ("/v1/assess", "/v1/explain?rule=lf.digital_pilot"):
            answer = client.post(route, content=body, headers={"content-type": "application/json"})
            assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["detail"].startswith(detail) and answer.json()["location"] == "<body>"
        lines = "\n".join([facts_json(EXAMPLES / "wenan-pilot.yaml"), body])
        batch = client.post("/v1/batch", params={"as_of": AS_OF}, content=lines).json()
        assert (batch["assessed"], batch["errors"]) == (1, 1)      # the other line is still assessed
        assert batch["results"][1]["problem"]["location"] == "<body>:2" and \
            batch["results"][1]["problem"]["detail"].startswith(detail)


def test_a_place_the_rules_do_not_know_is_a_problem_as_evaluate_says(client: httpx.Client,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     tmp_path: Path) -> None:
    for place, field, detail in (({"city": "langfnag"}, "enterprise.city", "unknown city 'langfnag'; known cities: "),
                                 ({"city": "langfang", "county": "香和县"}, "enterprise.county",
                                  "unknown county '香和县' in 廊坊市; known counties: ")):
        facts = {"enterprise": {"name": "某企业", "credit_code": "91131024MA0CTX8K46", **place}, "records": []}
        body = json.dumps(facts, ensure_ascii=False, indent=1)
        (tmp_path / "f.json").write_text(body, "utf-8")
        assert main(["evaluate", str(tmp_path / "f.json"), "--rules", str(RULES)]) == 2
        assert detail in capsys.readouterr().err
        for route in ("/v1/assess", "/v1/explain?rule=lf.digital_pilot"):
            answer = client.post(route, content=body)
            assert answer.status_code == 422 and answer.json()["type"] == "urn:incentives:problem:facts", answer.text
            assert answer.json()["detail"].startswith(detail) and answer.json()["field"] == field
            assert answer.json()["location"] == f"<body>:{4 + len(place)}:3"   # the line of the bad place
    chinese = {"enterprise": {"name": "某企业", "credit_code": "91131024MA0CTX8K46", "city": "廊坊", "county": "香河"},
               "records": []}
    assert client.post("/v1/assess", content=json.dumps(chinese, ensure_ascii=False)).status_code == 200


def test_a_json_body_with_a_byte_order_mark_is_read_as_without(client: httpx.Client) -> None:
    body = facts_json(EXAMPLES / "wenan-pilot.yaml").encode("utf-8")
    plain = client.post("/v1/assess", params={"as_of": AS_OF}, content=body)
    marked = client.post("/v1/assess", params={"as_of": AS_OF}, content=b"\xef\xbb\xbf" + body)   # Notepad's UTF-8
    assert plain.status_code == marked.status_code == 200 and marked.json() == plain.json()
    batch = client.post("/v1/batch", params={"as_of": AS_OF}, content=b"\xef\xbb\xbf" + body + b"\n" + body).json()
    assert (batch["assessed"], batch["errors"]) == (2, 0)


def test_request_size_and_batch_limits(client: httpx.Client) -> None:
    big = client.post("/v1/assess", content=b" " * 70_000)
    assert big.status_code == 413 and big.json()["detail"] == "at most 65536 bytes"
    assert big.headers["x-rulebook-hash"].startswith("sha256:")
    lines = "\n".join([facts_json(EXAMPLES / "wenan-pilot.yaml")] * 21)
    many = client.post("/v1/batch", content=lines, headers={"content-type": "application/x-ndjson"})
    assert many.status_code == 413 and "at most 20 lines" in many.json()["detail"]


def test_batch_assesses_each_line_and_locates_bad_ones(client: httpx.Client, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [facts_json(p) for p in EXAMPLE_FILES]
    lines.insert(2, '{"enterprise": {"name": "x"}}')
    answer = client.post("/v1/batch", params={"as_of": AS_OF}, content="\n".join(lines) + "\n")
    assert answer.status_code == 200
    data = answer.json()
    assert (data["enterprises"], data["assessed"], data["errors"]) == (len(lines), len(lines) - 1, 1)
    bad = data["results"][2]
    assert bad["line"] == 3 and bad["assessment"] is None and bad["problem"]["location"].startswith("<body>:3")
    expected = [cli_json(capsys, "evaluate", str(p), "--rules", str(RULES), "--as-of", AS_OF, "--format", "json")
                for p in EXAMPLE_FILES]
    got = [r["assessment"] for r in data["results"] if r["assessment"] is not None]
    assert got == expected
    from decimal import Decimal

    assert Decimal(data["total"]) == sum(Decimal(e["total"]) for e in expected)  # type: ignore[index]


def test_policies_list_documents_rules_amounts_departments(client: httpx.Client) -> None:
    data = client.get("/v1/policies").json()
    book = load_rulebook(RULES)
    assert data["rulebook_hash"] == book.hash
    assert {d["id"] for d in data["documents"]} == {d for f in book.files.values() for d in f.model.documents}
    langfang = client.get("/v1/policies", params={"city": "langfang"}).json()["documents"]
    assert [d["id"] for d in langfang] == ["lf-2025-5"] and langfang[0]["level"] == "city"
    leader = next(r for r in langfang[0]["rules"] if r["id"] == "lf.leader.provincial")
    assert leader["amount"] == {"fixed": "300000"} and leader["payers"] == {"city": "0.5", "county": "0.5"}
    assert leader["departments"] == ["市工信局", "市财政局"] and leader["clause"] == "三、1"
    listed = {r["id"]: r for d in data["documents"] for r in d["rules"]}
    assert set(listed) == set(book.by_id)
    for rule_id, rule in listed.items():   # when each instalment falls due, as the text says
        assert rule["deadlines"] == [i.due for i in book.by_id[rule_id].rule.instalments]
    province = client.get("/v1/policies", params={"level": "province"}).json()["documents"]
    assert [d["city"] for d in province] == ["hebei"]
    # a city by its Chinese name; a misspelt city or level is told, not answered with an empty library
    assert client.get("/v1/policies", params={"city": "廊坊市"}).json()["documents"] == langfang
    for query, field in (({"city": "langfnag"}, "query.city"), ({"level": "town"}, "query.level")):
        refused = client.get("/v1/policies", params=query)
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    assert "langfang" in client.get("/v1/policies", params={"city": "langfnag"}).json()["detail"]


def test_rulebook_and_health(client: httpx.Client) -> None:
    info = client.get("/v1/rulebook").json()
    book = load_rulebook(RULES)
    assert info["hash"] == book.hash and info["last_reload_error"] is None
    assert {f["city"]: f["rules"] for f in info["files"]} == {c: len(f.rules) for c, f in book.files.items()}
    health = client.get("/v1/health")
    assert health.json()["status"] == "ok" and health.headers["x-rulebook-hash"] == book.hash


def test_cors_is_off_by_default(client: httpx.Client) -> None:
    preflight = client.options("/v1/assess", headers={"origin": "https://example.org",
                                                      "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    plain = client.get("/v1/health", headers={"origin": "https://example.org"})
    assert "access-control-allow-origin" not in plain.headers


def test_openapi_uses_the_library_json_schemas(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]

    def resolve(node: object, defs: dict[str, object], prefix: str) -> object:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].removeprefix(prefix)], defs, prefix)
            return {k: resolve(v, defs, prefix) for k, v in node.items() if k not in ("$defs", "$schema")}
        if isinstance(node, list):
            return [resolve(v, defs, prefix) for v in node]
        return node

    for which, ref in (("facts", spec["paths"]["/v1/assess"]["post"]["requestBody"]["content"]["application/json"]
                        ["schema"]["$ref"]),
                       ("assessment", spec["paths"]["/v1/assess"]["post"]["responses"]["200"]["content"]
                        ["application/json"]["schema"]["$ref"])):
        own = schema(which)  # type: ignore[arg-type]
        ours = resolve(own, own.get("$defs", {}), "#/$defs/")
        served = resolve({"$ref": ref}, components, "#/components/schemas/")
        if which == "facts":
            ours = json.loads(json.dumps(ours).replace("#/$defs/", "#/components/schemas/Facts"))
        assert served == ours, which
    problem = spec["paths"]["/v1/assess"]["post"]["responses"]["422"]["content"]
    assert list(problem) == ["application/problem+json"]


# ------------------------------------------------------------------------------------------ reload
def _copy_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("tests"))
    shutil.copytree(RULES.parent / "sources", tmp_path / "sources")  # quotes are checked against them at load
    return rules


def _hammer(server: Server, stop: threading.Event, seen: list[tuple[str, str, str]], errors: list[str]) -> None:
    body = facts_json(EXAMPLES / "xianghe-leader.yaml")
    with server.client() as c:
        while not stop.is_set():
            r = c.post("/v1/assess", params={"as_of": AS_OF}, content=body)
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text}")
                continue
            data = r.json()
            seen.append((r.headers["x-rulebook-hash"], data["rulebook_hash"], data["total"]))


def _under_load(server: Server, change: object) -> tuple[list[tuple[str, str, str]], list[str]]:
    stop, seen, errors = threading.Event(), [], []  # type: ignore[var-annotated]
    threads = [threading.Thread(target=_hammer, args=(server, stop, seen, errors)) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        change()  # type: ignore[operator]
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
    return seen, errors


def _wait_for(client: httpx.Client, test: object, seconds: float = 20) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while True:
        info = client.get("/v1/rulebook").json()
        if test(info):  # type: ignore[operator]
            return info  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, info
        time.sleep(0.05)


def test_sighup_swaps_the_whole_rulebook_while_requests_run(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    old = load_rulebook(rules).hash
    langfang = rules / "langfang.yaml"
    with running(rules=rules) as server, server.client() as client:
        def edit_and_hup() -> None:
            langfang.write_text(langfang.read_text("utf-8").replace("amount: {fixed: 30万元}", "amount: {fixed: 35万元}"),
                                "utf-8")
            os.kill(server.process.pid, signal.SIGHUP)
            _wait_for(client, lambda info: info["hash"] != old)

        seen, errors = _under_load(server, edit_and_hup)
        new = load_rulebook(rules).hash
        assert not errors and new != old
        totals = {old: "1350000.00", new: "1400000.00"}     # 30 → 35万元 for the provincial leader
        assert {h for h, _, _ in seen} == {old, new}          # requests ran before and after the swap
        assert all(header == body and totals[header] == total for header, body, total in seen)
        assert [h for h, _, _ in seen].index(new) > 0

        def break_and_hup() -> None:
            langfang.write_text(langfang.read_text("utf-8").replace("rewards: {kind: recognition", "rewards: {kind: nonsense",
                                                                     1), "utf-8")
            os.kill(server.process.pid, signal.SIGHUP)
            _wait_for(client, lambda info: info["last_reload_error"] is not None)

        seen, errors = _under_load(server, break_and_hup)
        assert not errors and {h for h, _, _ in seen} == {new}   # the broken file never served
        info = client.get("/v1/rulebook").json()
        assert info["hash"] == new and "langfang.yaml:" in info["last_reload_error"]
        assert "reload failed, still serving" in server.log.read_text()


def test_admin_reload_needs_the_token_and_keeps_the_old_rules_on_failure(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    old = load_rulebook(rules).hash
    with running("--admin-token", "s3cret", rules=rules) as server, server.client() as client:
        assert client.post("/v1/admin/reload").status_code == 401
        same = client.post("/v1/admin/reload", headers={"authorization": "Bearer s3cret"}).json()
        assert same == {"hash": old, "previous_hash": old, "changed": False}
        (rules / "langfang.yaml").write_text("city: langfang\ndocuments: {}\nrules: [{id: x}]\n", "utf-8")
        failed = client.post("/v1/admin/reload", headers={"authorization": "Bearer s3cret"})
        assert failed.status_code == 422 and failed.json()["location"].startswith(str(rules / "langfang.yaml"))
        assert failed.headers["x-rulebook-hash"] == old
        served = client.post("/v1/assess", params={"as_of": AS_OF}, content=facts_json(EXAMPLES / "xianghe-leader.yaml"))
        assert served.json()["total"] == "1350000.00" and served.json()["rulebook_hash"] == old


def test_a_reload_of_a_rules_folder_left_with_no_rule_file_keeps_the_old_rules(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    old = load_rulebook(rules).hash
    with running("--admin-token", "s3cret", rules=rules) as server, server.client() as client:
        for city in ("shijiazhuang", "cangzhou", "langfang", "hebei"):
            (rules / f"{city}.yaml").unlink()
        failed = client.post("/v1/admin/reload", headers={"authorization": "Bearer s3cret"})
        assert failed.status_code == 422 and failed.json()["location"] == str(rules)
        assert "holds no rule file" in failed.json()["detail"] and failed.headers["x-rulebook-hash"] == old
        served = client.post("/v1/assess", params={"as_of": AS_OF}, content=facts_json(EXAMPLES / "xianghe-leader.yaml"))
        assert served.json()["total"] == "1350000.00" and served.json()["rulebook_hash"] == old


def test_the_curl_example_of_the_api_guide(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    import re
    import subprocess

    from conftest import ROOT

    guide = (ROOT / "docs" / "api.md").read_text("utf-8")
    block = re.search(r"## HTTP: `incentives serve`.*?```bash\n(.*?)```", guide, re.S)
    assert block, "docs/api.md has the curl example"
    commands = block.group(1).replace("\\\n", " ").splitlines()
    curls = [c.replace("http://127.0.0.1:8000", server.url) for c in commands if c.startswith("curl ")]
    assert len(curls) == 2
    first = subprocess.run(curls[0], shell=True, cwd=ROOT, capture_output=True, text=True, check=True)
    expected = cli_json(capsys, "evaluate", str(EXAMPLES / "wenan-pilot.yaml"), "--rules", str(RULES),
                        "--as-of", AS_OF, "--format", "json")
    assert json.loads(first.stdout) == expected
    second = subprocess.run(curls[1], shell=True, cwd=ROOT, capture_output=True, text=True, check=True)
    assert [d["id"] for d in json.loads(second.stdout)["documents"]] == ["lf-2025-5"]


def test_policies_pass_on_the_administrative_facts_a_rule_gives(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    langfang = rules / "langfang.yaml"
    text = langfang.read_text("utf-8")
    extra = ("    department: 受理部门（测试）\n    contact: 咨询方式（测试）\n    materials: [申请表（测试）]\n"
             "    payment_deadline: {days: 60, quote: 对新认定的省级特色产业集群“领跑者”企业给予一次性30万元奖励}\n")
    langfang.write_text(text.replace("    limit: once_per_enterprise            # 一次性\n",
                                     "    limit: once_per_enterprise            # 一次性\n" + extra, 1), "utf-8")
    with running(rules=rules) as server, server.client() as client:
        documents = client.get("/v1/policies", params={"city": "langfang"}).json()["documents"]
        leader = next(r for r in documents[0]["rules"] if r["id"] == "lf.leader.provincial")
        assert (leader["department"], leader["contact"]) == ("受理部门（测试）", "咨询方式（测试）")
        assert leader["materials"] == ["申请表（测试）"] and leader["payment_deadline"]["days"] == 60
        page = client.get("/policies", params={"city": "langfang"}).text
        assert "受理部门: 受理部门（测试）" in page and "60 日: 对新认定" in page and "申请表（测试）" in page
        award = client.post("/v1/assess", params={"as_of": AS_OF},
                            content=facts_json(EXAMPLES / "xianghe-leader.yaml")).json()["awards"][0]
        assert (award["department"], award["contact"]) == ("受理部门（测试）", "咨询方式（测试）")


def test_workers_share_the_port_and_each_reloads_on_sighup(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    old = load_rulebook(rules).hash
    langfang = rules / "langfang.yaml"
    with running("--workers", "2", rules=rules) as server:
        def hashes(n: int) -> set[str]:   # a new connection each time: the kernel hands it to either worker
            return {httpx.get(server.url + "/v1/health").headers["x-rulebook-hash"] for _ in range(n)}

        assert hashes(20) == {old}
        langfang.write_text(langfang.read_text("utf-8").replace("amount: {fixed: 30万元}", "amount: {fixed: 35万元}"),
                            "utf-8")
        os.kill(server.process.pid, signal.SIGHUP)
        new = load_rulebook(rules).hash
        deadline = time.monotonic() + 30
        while hashes(20) != {new}:
            assert time.monotonic() < deadline, "every worker reloads"
            time.sleep(0.1)
        served = httpx.post(server.url + "/v1/assess", params={"as_of": AS_OF},
                            content=facts_json(EXAMPLES / "xianghe-leader.yaml")).json()
        assert served["total"] == "1400000.00"
    assert server.process.returncode == 0


def test_a_rulebook_with_its_own_facts_schema_is_served_with_it(tmp_path: Path) -> None:
    from test_factschema import LEASES, lease_rules

    rules = lease_rules(tmp_path / "rules")
    with running(rules=rules) as server, server.client() as client:
        assert "Lease" in client.get("/v1/schemas/facts").json()["$defs"]
        body = json.dumps(yaml.safe_load(LEASES), ensure_ascii=False, default=str)
        answer = client.post("/v1/assess", params={"as_of": AS_OF}, content=body)
        assert answer.status_code == 200, answer.text
        assert [(a["record_id"], a["amount"]) for a in answer.json()["awards"]] == [("a", "50000.00")]
        as_yaml = client.post("/v1/assess", params={"as_of": AS_OF}, content=LEASES.encode(),
                              headers={"content-type": "application/yaml"})
        assert as_yaml.status_code == 200 and as_yaml.json()["total"] == "50000.00", as_yaml.text
        page = client.get("/", params={"lang": "en"}).text     # the calculator's form offers the new kind
        assert '<option value="lease">' in page


def test_assess_and_explain_read_the_rules_as_the_query_chooses(client: httpx.Client,
                                                                capsys: pytest.CaptureFixture[str],
                                                                tmp_path: Path) -> None:
    # 〔2021〕—69 三、（一）1 "对获得国家专精特新“小巨人”称号的企业，给予 100 万元奖励。" (重点“小巨人” not named)
    facts = {"enterprise": {"name": "鹿泉某电子科技有限公司", "credit_code": "91130100MA0CNR4K2D", "city": "shijiazhuang"},
             "records": [{"id": "k", "kind": "recognition", "title": "key_little_giant", "level": "national",
                          "date": "2023-07-01"}]}
    path = tmp_path / "giant.json"
    path.write_text(json.dumps(facts, ensure_ascii=False), "utf-8")
    choice = "sjz.little_giant.key_little_giant=rewarded"
    expected = cli_json(capsys, "evaluate", str(path), "--rules", str(RULES), "--as-of", AS_OF, "--format", "json",
                        "--reading", choice)
    answer = client.post("/v1/assess", params={"as_of": AS_OF, "reading": choice}, json=facts)
    assert answer.status_code == 200 and answer.json() == expected and answer.json()["total"] == "1000000.00"
    assert answer.headers["x-rulebook-hash"] == expected["rulebook_hash"] != load_rulebook(RULES).hash
    plain = client.post("/v1/assess", params={"as_of": AS_OF}, json=facts).json()
    assert plain["total"] == "0.00" and plain["readings"]["sjz.little_giant.key_little_giant"] == "not_rewarded"
    explained = client.post("/v1/explain", params={"rule": "sjz.little_giant", "as_of": AS_OF, "reading": choice},
                            json=facts).json()
    assert explained["readings"]["sjz.little_giant.key_little_giant"] == "rewarded" and explained["awards"]
    unknown = client.post("/v1/assess", params={"reading": "sjz.little_giant.key=rewarded"}, json=facts)
    assert unknown.status_code in (400, 422) and "no reading 'sjz.little_giant.key'" in unknown.json()["detail"]
    lines = (json.dumps(facts, ensure_ascii=False) + "\n") * 2
    batch = client.post("/v1/batch", params={"as_of": AS_OF, "reading": choice}, content=lines.encode())
    assert batch.status_code == 200 and batch.json()["total"] == "2000000.00", batch.text
    assert batch.json()["rulebook_hash"] == batch.headers["x-rulebook-hash"] == expected["rulebook_hash"]
    assert [r["assessment"] for r in batch.json()["results"]] == [expected, expected]
    unread = client.post("/v1/batch", params={"as_of": AS_OF}, content=lines.encode()).json()
    assert unread["total"] == "0.00" and unread["rulebook_hash"] == load_rulebook(RULES).hash


def test_a_port_that_cannot_be_listened_on_is_one_located_line(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with pytest.raises(SystemExit) as exit:
        main(["serve", "--port", "99999"])
    assert exit.value.code == 2 and "argument --port: not a port (0 to 65535): '99999'" in capsys.readouterr().err
    with socket.socket() as taken:   # another server listens there
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--rules", str(RULES)]) == 2
    assert capsys.readouterr().err == f"incentives: 127.0.0.1:{port}: cannot listen here: Address already in use\n"
