"""Make tests/data/schema1.db with the previous release's own code (schema 1, commit b5f4ee2).

The upgrade test (tests/test_upgrade.py) opens a copy of that file with today's code and
checks that nothing was lost. The file must come from the old code, not from a hand-written
imitation of its schema, so this script imports `service` from a checkout of that release:

    mkdir -p /tmp/rel1 && git archive b5f4ee2 | tar -x -C /tmp/rel1
    .venv/bin/python tests/data/make_schema1_db.py /tmp/rel1 tests/data/schema1.db

It writes every kind of row through the old release's real API and engine: tokens (one
revoked), sources whose names only fold alike (composed and decomposed Cyrillic, inner white
space, case), figures on sides typed `Russia` and `russia`, batches, corrections (versions 2
and 3), a retraction, disputes, a reconciliation run with its flags (one acknowledged with a
note, one resolved), figures added after the run (dirty series), an idempotency key, and a
source with a kind and an affiliation. The plaintext tokens go to schema1.json beside it.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

MINISTRY = "Міністерство оборони України"
MINISTRY_NFD = unicodedata.normalize("NFD", MINISTRY)
CONFLICT = "ukraine-2022"


def main(old_root: Path, target: Path) -> None:
    sys.path.insert(0, str(old_root))
    from service import auth, create_app, db, store  # the old release's code
    from service.config import Settings
    from service.reconcile import run as run_engine

    assert Path(db.__file__).resolve().is_relative_to(old_root.resolve()), db.__file__
    assert db.SCHEMA_VERSION == 1, "run this with the schema-1 release's code"
    assert MINISTRY_NFD != MINISTRY
    target.unlink(missing_ok=True)
    app = create_app(Settings(db_path=target, reconcile_seconds=0))
    client = app.test_client()
    database = db.connect(target)
    tokens = {role: auth.create_key(database, role, f"upgrade test {role}")
              for role in ("reader", "editor", "admin")}
    auth.create_key(database, "editor", "revoked editor")
    store.revoke_api_keys(database, "revoked editor")
    editor = {"Authorization": f"Bearer {tokens['editor']}"}

    def post(source: str, count: int, day: str, **fields: object) -> int:
        body = {"conflict": CONFLICT, "source": source, "category": "military",
                "side": "Russia", "count": count, "reported_on": day, **fields}
        response = client.post("/api/v1/figures", json=body, headers=editor)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()["id"]

    def ok(response: object, status: int = 200) -> dict:
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    # Sources that only fold alike: the old release made one source of each spelling.
    m1 = post(MINISTRY, 5000, "2022-05-01", side="Russia", quote="5 000 killed")
    m2 = post(MINISTRY_NFD, 5200, "2022-05-03", side="Russia")
    post(MINISTRY_NFD + " ", 5300, "2022-05-05", side="Russia")
    ua_1 = post("Russian  Defence Ministry", 200, "2022-05-01", side="russia",
                location="Kharkiv Oblast")
    post("Russian Defence Ministry", 210, "2022-05-02", side="RUSSIA ",
         location="kharkiv  oblast")
    post("Ministry of Defence of Armenia", 10, "2022-05-01", side="Armenia")
    post("Ministry of  Defence of Armenia", 12, "2022-05-02", side="Armenia")
    post("MINISTRY OF DEFENCE  OF ARMENIA", 14, "2022-05-03", side="Armenia")
    # The example: 5,000 on side "Russia" vs 200 on side "russia", one as_of.
    monitor = post("Independent Monitor", 200, "2022-05-01", side="russia")
    # Duplicates in two series that become one: both flagged as duplicate by the old run.
    dup = [post("Independent Monitor", n, "2022-05-10", side=side, category="injured")
           for side, n in (("Russia", 40), ("Russia", 45), ("russia", 50), ("russia", 55))]
    # A whole and a part that exceeds it; a decrease; disputes.
    post("Regional Office", 900, "2022-05-04", side=None, category="civilian",
         location="Mariupol")
    whole = post("UN Monitoring Mission", 400, "2022-05-04", side=None, category="civilian",
                 qualifier="at_least")
    whole_2 = post("UN Monitoring Mission", 300, "2022-05-06", side=None, category="civilian")
    batch = ok(client.post("/api/v1/figures/batch", headers=editor, json={"figures": [
        {"conflict": CONFLICT, "source": "Wire Desk", "category": "missing", "count": n,
         "reported_on": f"2022-06-0{n}", "qualifier": "about", "unit": "People "}
        for n in range(1, 6)]}), 201)["ids"]
    ok(client.post(f"/api/v1/figures/{whole}/disputes", headers=editor,
                   json={"source": "Regional Office", "reported_on": "2022-05-07",
                         "quote": "The UN undercounts."}), 201)
    ok(client.post(f"/api/v1/figures/{m1}/disputes", headers=editor,
                   json={"source": "Russian Defence Ministry", "reported_on": "2022-05-02"}),
       201)
    ok(client.post(f"/api/v1/figures/{ua_1}/disputes", headers=editor,
                   json={"source": MINISTRY_NFD, "reported_on": "2022-05-02",
                         "url": "https://example.org/denial"}), 201)
    # Corrections (versions 2 and 3) and a retraction.
    ok(client.patch(f"/api/v1/figures/{m2}", headers=editor, json={"count": 5100}))
    ok(client.patch(f"/api/v1/figures/{m2}", headers=editor,
                    json={"qualifier": "about", "notes": "Revised by the ministry."}))
    ok(client.post(f"/api/v1/figures/{batch[0]}/retract", headers=editor,
                   json={"reason": "Double-counted by the desk."}))
    # Sources with a kind and an affiliation (the oldest spelling stays unknown).
    sources = ok(client.get("/api/v1/sources?limit=1000"))["items"]
    by_name = {source["name"]: source["id"] for source in sources}
    ok(client.patch(f"/api/v1/sources/{by_name[MINISTRY_NFD]}", headers=editor,
                    json={"kind": "government", "affiliation": "Ukraine"}))
    ok(client.patch(f"/api/v1/sources/{by_name['MINISTRY OF DEFENCE  OF ARMENIA']}",
                    headers=editor, json={"kind": "military"}))
    ok(client.patch(f"/api/v1/sources/{by_name['Russian  Defence Ministry']}",
                    headers=editor, json={"kind": "military", "affiliation": "Russia"}))
    ok(client.patch(f"/api/v1/sources/{by_name['Russian Defence Ministry']}",
                    headers=editor, json={"kind": "government"}))
    # A run with its flags; people's judgements on two of them.
    queued = store.create_run(database, "cli", False)
    assert run_engine.execute(database, queued["id"], full=False)["status"] == "succeeded"
    flags = ok(client.get("/api/v1/flags?limit=1000"))["items"]
    assert {flag["rule"] for flag in flags} >= {"duplicate", "part_exceeds_whole",
                                                "disputed", "decrease"}, flags
    duplicate = next(flag for flag in flags if flag["rule"] == "duplicate")
    ok(client.patch(f"/api/v1/flags/{duplicate['id']}", headers=editor,
                    json={"status": "acknowledged", "note": "Two bulletins the same day."}))
    disputed = next(flag for flag in flags if flag["rule"] == "disputed")
    ok(client.patch(f"/api/v1/flags/{disputed['id']}", headers=editor,
                    json={"status": "resolved", "note": "Checked with the UN."}))
    # After the run: a keyed POST (idempotency), and changes that leave series dirty.
    keyed = client.post("/api/v1/figures", headers={**editor, "Idempotency-Key": "retry-1"},
                        json={"conflict": CONFLICT, "source": "Wire Desk",
                              "category": "killed", "count": 77, "reported_on": "2022-07-01"})
    assert keyed.status_code == 201
    ok(client.patch(f"/api/v1/figures/{whole_2}", headers=editor, json={"count": 350}))
    post(MINISTRY, 5400, "2022-05-07", side="Russia")
    database.close()
    (target.with_suffix(".json")).write_text(json.dumps({
        "release": "b5f4ee2", "tokens": tokens, "idempotency_key": "retry-1",
        "figures": {"ministry_first": m1, "ministry_corrected": m2, "monitor": monitor,
                    "duplicates": dup, "retracted": batch[0], "keyed": keyed.get_json()["id"]},
    }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
