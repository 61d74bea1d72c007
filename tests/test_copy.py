"""`casualty-tracker copy --from PATH --to URL` (issue 12, README "Scaling out"): every
figure, version, dispute, source, flag, run and token arrives unchanged."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from conftest import figure
from pgcluster import Cluster

from service import create_app, db
from service.cli import main
from service.config import Settings
from service.dbcopy import TABLES

API = "/api/v1"


def everything(target: Path | str) -> dict[str, list[tuple]]:
    connection = db.connect(target)
    try:
        return {table: sorted((tuple(row) for row in connection.execute(
            f"SELECT * FROM {table}")), key=repr) for table in TABLES}
    finally:
        connection.close()


def filled(path: Path) -> tuple[dict[str, str], list[int]]:
    """A SQLite database with something in every table."""
    runner = CliRunner()
    token = runner.invoke(main, ["keys", "create", "--role", "editor", "--name", "e",
                                 "--db", str(path)]).stdout.strip()
    runner.invoke(main, ["keys", "create", "--role", "reader", "--name", "r", "--db", str(path)])
    editor = {"Authorization": f"Bearer {token}"}
    client = create_app(Settings(db_path=path, reconcile_seconds=0)).test_client()
    ids = [client.post(f"{API}/figures", json=figure(source=s, count=c, quote="«ə» 'q'"),
                       headers=editor).get_json()["id"]
           for s, c in (("A", 10), ("B", 99), ("C", 40), ("A", 12))]
    client.post(f"{API}/figures", json=figure(count=5), headers={**editor,
                                                                  "Idempotency-Key": "k1"})
    client.patch(f"{API}/figures/{ids[0]}", json={"count": 11}, headers=editor)
    client.post(f"{API}/figures/{ids[2]}/retract", json={"reason": "wrong"}, headers=editor)
    client.post(f"{API}/figures/{ids[1]}/disputes",
                json={"source": "D", "reported_on": "2020-10-05"}, headers=editor)
    client.patch(f"{API}/sources/1", json={"kind": "government", "affiliation": "Azerbaijan"},
                 headers=editor)
    assert runner.invoke(main, ["reconcile", "--db", str(path)]).exit_code == 0
    flags = client.get(f"{API}/flags").get_json()["items"]
    client.patch(f"{API}/flags/{flags[0]['id']}", json={"status": "acknowledged", "note": "n"},
                 headers=editor)
    client.post(f"{API}/figures", json=figure(count=77), headers=editor)  # a dirty series
    return editor, ids


def test_copy_from_sqlite_to_postgresql_keeps_everything(postgres: Cluster,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    editor, ids = filled(path)
    before = everything(path)
    assert all(before[table] for table in TABLES if table != "source_merges"), \
        {t: len(r) for t, r in before.items()}  # (merges come only from an upgrade)
    url = postgres.create_database()
    result = CliRunner().invoke(main, ["copy", "--from", str(path), "--to", url])
    assert result.exit_code == 0, result.output
    assert f"figures: {len(before['figures'])}" in result.stdout
    assert everything(url) == before

    old = create_app(Settings(db_path=path, reconcile_seconds=0)).test_client()
    new = create_app(Settings(db_path=url, reconcile_seconds=0)).test_client()
    for path_ in ("/figures?status=all", f"/figures/{ids[0]}/history", "/flags",
                  "/reconciliation/runs", "/sources", f"/figures/{ids[1]}/disputes",
                  "/reconciliation/report?conflict=nagorno-karabakh-2020"):
        a, b = old.get(API + path_).get_json(), new.get(API + path_).get_json()
        a.pop("generated_at", None), b.pop("generated_at", None)
        assert a == b, path_
    # the tokens work, the idempotency record replays, and new ids follow the copied ones
    replay = new.post(f"{API}/figures", json=figure(count=5),
                      headers={**editor, "Idempotency-Key": "k1"})
    assert replay.headers.get("Idempotent-Replayed") == "true"
    created = new.post(f"{API}/figures", json=figure(count=8), headers=editor)
    assert created.status_code == 201
    assert created.get_json()["id"] == max(row[0] for row in before["figures"]) + 1
    run = new.post(f"{API}/reconciliation/runs", json={}, headers=editor)
    assert run.status_code == 202
    assert run.get_json()["id"] == len(before["reconciliation_runs"]) + 1


def test_copy_refuses_a_target_that_holds_data(postgres: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    filled(path)
    url = postgres.create_database()
    assert CliRunner().invoke(main, ["copy", "--from", str(path), "--to", url]).exit_code == 0
    copied = everything(url)
    again = CliRunner().invoke(main, ["copy", "--from", str(path), "--to", url])
    assert again.exit_code == 1
    assert "already holds data" in again.stderr
    assert everything(url) == copied


def test_copy_back_from_postgresql_to_a_new_sqlite_file(postgres: Cluster,
                                                        tmp_path: Path) -> None:
    path, back = tmp_path / "old.db", tmp_path / "back.db"
    filled(path)
    url = postgres.create_database()
    assert CliRunner().invoke(main, ["copy", "--from", str(path), "--to", url]).exit_code == 0
    result = CliRunner().invoke(main, ["copy", "--from", url, "--to", str(back)])
    assert result.exit_code == 0, result.output
    assert everything(back) == everything(path)


def test_copy_from_a_missing_file_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["copy", "--from", str(tmp_path / "none.db"),
                                       "--to", str(tmp_path / "new.db")])
    assert result.exit_code == 2
    assert "no such database file" in result.stderr
    assert not (tmp_path / "none.db").exists()
