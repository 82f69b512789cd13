"""Support admins' view of contracts: ``GET /accounts`` a page at a time (a Query, never a Scan), a contract's
faults answered all at once, and ``patchctl accounts import|export|list|show`` through the app."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from patchcast_tools.cli import accounts as cli_accounts
from patchcast_tools.cli.common import CliError
from tests.app.cli_api import cli_api
from tests.conftest import STATE, account_body, auth, unique

ADMIN = "support-admin"


def _json(resp: Any) -> Any:
    return json.loads(resp.body)


@pytest.fixture
def products(app_client: Client) -> None:
    for product in ("M3", "XA"):
        app_client.http.put(f"/products/{product}", headers=auth(ADMIN), body=json.dumps({"name": product}))


def _put(client: Client, account: str, **fields: Any) -> Any:
    body = {**account_body("premium", ["M3"]), **fields}
    return client.http.put(f"/accounts/{account}", headers=auth(ADMIN), body=json.dumps(body))


def _all_ids(client: Client, limit: int) -> list[str]:
    ids: list[str] = []
    query = f"?limit={limit}"
    while True:
        page = _json(client.http.get(f"/accounts{query}", headers=auth(ADMIN)))
        assert set(page) == {"items", "next"}
        ids += [a["account_id"] for a in page["items"]]
        if page["next"] is None:
            return ids
        query = f"?limit={limit}&cursor={page['next']}"


def test_support_admins_list_every_contract_page_by_page_in_account_order(app_client: Client, products: None) -> None:
    # GIVEN three contracts (among the session's others)
    mine = sorted(unique("ls") for _ in range(3))
    for account in mine:
        assert _put(app_client, account).status_code == 200
    # WHEN the list is read a page of 100 at a time, and one at a time
    whole = _all_ids(app_client, 100)
    # THEN each contract is there once, in account id order, and small pages join up to the same list
    assert set(mine) <= set(whole) and len(whole) == len(set(whole)) and whole == sorted(whole)
    first = _json(app_client.http.get("/accounts?limit=1", headers=auth(ADMIN)))
    second = _json(app_client.http.get(f"/accounts?limit=1&cursor={first['next']}", headers=auth(ADMIN)))
    assert [a["account_id"] for a in first["items"] + second["items"]] == whole[:2]
    assert first["items"][0] == _json(app_client.http.get(f"/accounts/{whole[0]}", headers=auth(ADMIN)))


def test_the_last_page_says_next_null(app_client: Client, products: None) -> None:
    for _ in range(2):  # a page before the last, whichever tests ran before this one
        _put(app_client, unique("zz-last"))
    whole = _all_ids(app_client, 100)
    last = base64.urlsafe_b64encode(f"a1:{whole[-2]}".encode()).decode().rstrip("=")
    page = _json(app_client.http.get(f"/accounts?cursor={last}", headers=auth(ADMIN)))
    assert [a["account_id"] for a in page["items"]] == whole[-1:] and page["next"] is None


@pytest.mark.parametrize("cursor", ["not-a-cursor", "%00", base64.urlsafe_b64encode(b"a1:../x").decode(), "e30"])
def test_a_cursor_the_api_did_not_give_is_a_400(app_client: Client, cursor: str) -> None:
    resp = app_client.http.get(f"/accounts?cursor={cursor}", headers=auth(ADMIN))
    assert resp.status_code == 400 and _json(resp)["error"] == "invalid_cursor", resp.body
    assert set(_json(resp)) == {"error", "message"}


@pytest.mark.parametrize("limit", ["0", "101", "x", "-1", "1.5"])
def test_a_bad_limit_is_a_400_naming_it(app_client: Client, limit: str) -> None:
    resp = app_client.http.get(f"/accounts?limit={limit}", headers=auth(ADMIN))
    assert resp.status_code == 400 and "'limit'" in _json(resp)["message"], resp.body


@pytest.mark.parametrize(("role", "status"), [("customer", 403), ("release-engineer", 403)])
def test_only_support_admins_list_contracts(app_client: Client, role: str, status: int) -> None:
    resp = app_client.http.get("/accounts", headers=auth(role, "acme"))
    assert resp.status_code == status
    assert app_client.http.get("/accounts").status_code == 401


def test_a_contract_with_several_faults_answers_them_all_and_writes_nothing(app_client: Client, products: None) -> None:
    account = unique("bad")
    resp = _put(app_client, account, tier="gold", support_start="2026-13-01", timezone="Mars/Base", colour="red")
    body = _json(resp)
    assert resp.status_code == 400 and body["error"] == "invalid_fields", body
    assert [f["field"] for f in body["fields"]] == ["colour", "support_start", "timezone", "tier"]
    assert all(f["message"] and f["error"] for f in body["fields"])
    assert app_client.http.get(f"/accounts/{account}", headers=auth(ADMIN)).status_code == 404


# -- patchctl accounts, through the app ------------------------------------------------------------
@pytest.fixture
def cli(app_client: Client, monkeypatch: pytest.MonkeyPatch, products: None) -> None:
    monkeypatch.setenv("PATCHCAST_STATE_DIR", str(STATE))
    monkeypatch.setattr(cli_accounts, "Api", lambda _base, role: cli_api(app_client, role))


def _run(func: Any, capsys: pytest.CaptureFixture[str], **args: Any) -> tuple[int, str]:
    code = 0
    try:
        func(argparse.Namespace(api="http://patchcast.test", json=False, **args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().out


def test_import_reports_every_fault_of_a_row_at_once_in_file_order(
    cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a file whose second row has four faults and whose third is fine
    good, bad, later = unique("ok"), unique("bad"), unique("ok")
    csv_file = tmp_path / "contracts.csv"
    csv_file.write_text(
        "account_id,name,tier,products,support_start,support_end,business_hours\n"
        f"{good},Good,premium,M3,2026-01-01,2027-12-31,8-17\n"
        f"{bad},Bad,gold,M3;NOPE,2026-01-01,2027-02-30,eight-five\n"
        f"{later},Later,elite,M3 XA,2026-01-01,2027-12-31,\n"
    )
    # WHEN it is imported
    code, out = _run(cli_accounts.cmd_accounts_import, capsys, file=str(csv_file))
    lines = out.splitlines()
    # THEN the rows are reported in file order, new ones as created, the bad one with each of its four faults on a
    # line of its own, and it wrote nothing
    assert code == 1
    assert lines[0] == f"line 2: {good} created" and lines[6] == f"line 4: {later} created", out
    assert lines[1] == f"line 3: rejected {bad}:"
    faults = lines[2:6]
    assert all(f.startswith("  - ") and not f.endswith(".") for f in faults), faults
    for fault in ("business_hours", "tier", "NOPE", "support_end"):
        assert sum(fault in f for f in faults) == 1, faults
    assert lines[7] == "2 accepted (2 created, 0 updated), 1 rejected"
    # AND the same file again: the good rows are unchanged, none created
    assert (
        _run(cli_accounts.cmd_accounts_import, capsys, file=str(csv_file))[1].splitlines()[0]
        == f"line 2: {good} unchanged"
    )


def test_import_speaks_the_csv_s_own_terms(cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a row whose hours are out of range in the CSV's own form
    bad = unique("hours")
    csv_file = tmp_path / "contracts.csv"
    csv_file.write_text(
        "account_id,name,tier,products,support_start,support_end,business_hours\n"
        f"{bad},Bad,premium,M3,2026-01-01,2027-12-31,25-3\n"
    )
    code, out = _run(cli_accounts.cmd_accounts_import, capsys, file=str(csv_file))
    # THEN the fault says the CSV form, not the API's JSON form
    assert code == 1 and "must be like 8-17" in out and '{"start"' not in out, out
    # AND a file saved with semicolons is told so
    csv_file.write_text(
        f"account_id;name;tier;products;support_start;support_end\n{bad};Bad;premium;M3;2026-01-01;2027-12-31\n"
    )
    with pytest.raises(CliError) as refused:
        _run(cli_accounts.cmd_accounts_import, capsys, file=str(csv_file))
    assert "separated by semicolons: save the file as comma-separated CSV" in str(refused.value)


def test_an_export_imports_back_changing_nothing(
    cli: None, app_client: Client, products: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN contracts with every optional field set or left out
    full, bare = unique("rt"), unique("rt")
    assert (
        _put(
            app_client,
            full,
            products=["M3", "XA"],
            timezone="Europe/Stockholm",
            name='Ström, "AB"',
            business_hours={"start": 7, "end": 19},
            csm_email="kim@vendor.example",
        ).status_code
        == 200
    )
    assert _put(app_client, bare).status_code == 200
    # WHEN every contract is exported and the file of these two (other tests' contracts are the session's too,
    # some made through the table with products no one registered) imported again
    exported = tmp_path / "all.csv"

    def ours() -> str:
        assert _run(cli_accounts.cmd_accounts_export, capsys, file=str(exported))[0] == 0
        header, *rows = exported.read_text().splitlines(keepends=True)
        return header + "".join(r for r in rows if r.startswith((f"{full},", f"{bare},")))

    before = ours()
    assert before.count("\n") == 3
    exported.write_text(before)
    code, out = _run(cli_accounts.cmd_accounts_import, capsys, file=str(exported))
    # THEN both rows are accepted and none changed, and a second export holds the same rows
    assert code == 0, out
    assert out.splitlines()[-1].endswith("2 accepted (0 created, 0 updated), 0 rejected"), out
    assert f"{full} unchanged" in out and f"{bare} unchanged" in out
    assert ours() == before


def test_list_and_show_print_the_contracts(cli: None, app_client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    account = unique("sh")
    _put(app_client, account, csm_email="kim@vendor.example")
    code, out = _run(cli_accounts.cmd_accounts_list, capsys)
    assert code == 0 and any(line.startswith(account) and "premium" in line for line in out.splitlines())
    code, out = _run(cli_accounts.cmd_accounts_show, capsys, id=account)
    assert code == 0 and "csm_email       kim@vendor.example" in out and "business_hours  8-17" in out


def test_a_contract_stored_before_the_list_index_joins_it_on_its_next_import(
    app_client: Client, table: Any, products: None
) -> None:
    # GIVEN a contract as stored before the list index existed (no GSI1 keys)
    import boto3

    account = unique("old")
    assert _put(app_client, account).status_code == 200
    db = boto3.client("dynamodb", region_name="us-east-1")
    db.update_item(
        TableName=table.name,
        Key={"PK": {"S": f"ACCOUNT#{account}"}, "SK": {"S": "CONTRACT"}},
        UpdateExpression="REMOVE GSI1PK, GSI1SK",
    )
    assert account not in _all_ids(app_client, 100)
    # WHEN the same contract is imported again THEN it is rewritten once, into the list
    assert _json(_put(app_client, account))["changed"] is True
    assert account in _all_ids(app_client, 100)
    assert _json(_put(app_client, account))["changed"] is False
