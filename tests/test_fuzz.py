"""API fuzzing with schemathesis against the app's own /api/v1/openapi.json, in-process (WSGI).

Every operation of the document is fuzzed with an editor token, so writes get past
authorization and reach validation and the store. Phases: the documented examples, the
coverage phase (boundary values, missing and extra parameters, wrong types, methods the
document does not list) and random fuzzing. Each answer must

- not be a 5xx (`not_a_server_error`);
- have a documented status code, content type, body schema and headers
  (`status_code_conformance`, `content_type_conformance`, `response_schema_conformance`,
  `response_headers_conformance`);
- be a 405 with an `Allow` header for a method the document does not list
  (`unsupported_method`), and list no undocumented method in `Allow` (`allow_header_conformance`).

Not run: `positive_data_acceptance` and `negative_data_rejection`. The first expects every
schema-valid request to succeed, but the contract refuses valid-shaped data on purpose (a
future `reported_on`, `as_of` after `reported_on`, a figure disputed by its own source, an
unknown id: 422/404/409, each documented on its operation); the second would need the
document to express every cross-field rule of §4, which JSON Schema cannot. Those refusals
are tested exactly in test_validation.py.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from service import auth, create_app, db, seeds, store
from service.config import Settings
from service.reconcile import run

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, unsupported_method,
          allow_header_conformance]
MAX_EXAMPLES = 100  # random cases per operation, besides the examples and coverage phases
#: Operations the fuzzing must get a 2xx from at least once: it cannot pass by being
#: refused everywhere (a broken token, a document the app does not follow).
MUST_SUCCEED = {
    "GET /api/v1/figures", "POST /api/v1/figures", "POST /api/v1/figures/batch",
    "GET /api/v1/sources", "GET /api/v1/flags", "GET /api/v1/reconciliation/runs",
    "POST /api/v1/reconciliation/runs", "GET /api/v1/reconciliation/report",
    "GET /api/v1/series",
    "GET /api/v1/exports/figures.csv", "GET /api/v1/exports/flags.csv",
    "GET /api/v1/exports/report.csv", "POST /api/v1/imports", "GET /api/v1/health",
}
#: status codes seen, by engine, then "METHOD /path" of the operation (documented methods)
SEEN: dict[str, dict[str, Counter[int]]] = {}
ON_EXISTING: dict[str, dict[str, Counter[int]]] = {}
#: Operations on one seeded object that must answer 2xx at least once when fuzzed on it.
MUST_SUCCEED_ON_EXISTING = {
    "GET /api/v1/figures/{figure_id}", "PATCH /api/v1/figures/{figure_id}",
    "GET /api/v1/figures/{figure_id}/history", "GET /api/v1/figures/{figure_id}/disputes",
    "POST /api/v1/figures/{figure_id}/disputes", "GET /api/v1/sources/{source_id}",
    "PATCH /api/v1/sources/{source_id}", "GET /api/v1/flags/{flag_id}",
    "PATCH /api/v1/flags/{flag_id}", "GET /api/v1/reconciliation/runs/{run_id}",
}


def _load_schema(parameters: dict[str, int] | None = None) -> schemathesis.BaseSchema:
    """The document as the app serves it. It does not depend on the data, so a throwaway
    app on an empty database serves it; the fuzzed app is the `fuzzed` fixture below.
    `parameters` pins path parameters to given values."""
    # in document order: on one object, PATCH /figures/{id} runs before its retraction
    in_order = {"operation-ordering": "none"}
    phases = {"stateful": {"enabled": False}, "examples": in_order, "coverage": in_order,
              "fuzzing": in_order}
    with tempfile.TemporaryDirectory() as directory:
        app = create_app(Settings(db_path=Path(directory) / "spec.db", reconcile_seconds=0))
        config = schemathesis.Config.from_dict({"phases": phases,
                                                "parameters": parameters or {}})
        loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)
    loaded.app = None  # every call names the fuzzed app
    return loaded


schema = _load_schema()
#: Random ids almost never exist, so the operations on one object are also fuzzed on
#: objects of the seeded database (checked to exist by the `fuzzed` fixture), first,
#: while those objects are as seeded.
EXISTING = {"figure_id": 5, "source_id": 2, "flag_id": 1, "run_id": 1}
on_existing_objects = _load_schema(EXISTING).include(path_regex=r"\{")


@pytest.fixture(scope="module")
def fuzzed(module_db_path: Path | str) -> Iterator[tuple[Flask, dict[str, str]]]:
    """A fresh app on a seeded, reconciled database, and an editor's Authorization header;
    on each engine in turn (module_engine), so the same random requests meet SQLite and
    PostgreSQL."""
    path = module_db_path
    app = create_app(Settings(db_path=path, reconcile_seconds=0))
    database = db.connect(path)
    try:
        assert seeds.load_seeds(database).figures_added > 0
        queued = store.create_run(database, "cli", True)
        assert run.execute(database, queued["id"], full=True)["status"] == "succeeded"
        for table, key in (("figures", "figure_id"), ("sources", "source_id"),
                           ("flags", "flag_id"), ("reconciliation_runs", "run_id")):
            assert database.execute(f"SELECT count(*) FROM {table} WHERE id = ?",
                                    (EXISTING[key],)).fetchone() == (1,)
        headers = {"Authorization": f"Bearer {auth.create_key(database, 'editor', 'fuzz')}"}
    finally:
        database.close()
    yield app, headers
    app.extensions["casualty_tracker_runs"].shutdown()  # runs started by POST /runs


def test_the_document_lists_every_operation() -> None:
    operations = {f"{result.ok().method.upper()} {result.ok().path}"
                  for result in schema.get_all_operations()}
    assert len(operations) == 26  # GET /series (issue 13), POST /extractions (§9)
    assert operations >= MUST_SUCCEED


@on_existing_objects.parametrize()
@settings(max_examples=MAX_EXAMPLES // 2, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_api_on_existing_objects(case: schemathesis.Case, fuzzed: tuple[Flask, dict[str, str]],
                                 module_engine: str) -> None:
    call_and_check(case, fuzzed, ON_EXISTING.setdefault(module_engine, {}))


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_api(case: schemathesis.Case, fuzzed: tuple[Flask, dict[str, str]],
             module_engine: str) -> None:
    call_and_check(case, fuzzed, SEEN.setdefault(module_engine, {}))


def call_and_check(case: schemathesis.Case, fuzzed: tuple[Flask, dict[str, str]],
                   seen: dict[str, Counter[int]]) -> None:
    app, headers = fuzzed
    response = case.call_and_validate(app=app, headers=headers, checks=CHECKS)
    if case.method.upper() == case.operation.method.upper():
        seen.setdefault(f"{case.method.upper()} {case.path}", Counter())[
            response.status_code] += 1


def test_the_fuzzing_reached_every_operation(module_engine: str) -> None:
    """Runs after the fuzzing tests of its engine (file order, grouped by engine): every
    operation was called, and those that a valid request can always reach answered 2xx
    at least once."""
    seen, seen_on_existing = SEEN[module_engine], ON_EXISTING[module_engine]
    assert set(seen) == {f"{r.ok().method.upper()} {r.ok().path}"
                         for r in schema.get_all_operations()}
    succeeded = {operation for operation, statuses in seen.items()
                 if any(200 <= status < 300 for status in statuses)}
    assert succeeded >= MUST_SUCCEED, sorted(MUST_SUCCEED - succeeded)
    on_existing = {operation for operation, statuses in seen_on_existing.items()
                   if any(200 <= status < 300 for status in statuses)}
    assert on_existing >= MUST_SUCCEED_ON_EXISTING, sorted(MUST_SUCCEED_ON_EXISTING
                                                           - on_existing)
    cases = sum(sum(statuses.values()) for statuses in seen.values())
    more = sum(sum(statuses.values()) for statuses in seen_on_existing.values())
    assert cases >= 25 * 10, seen
    print(f"\nschemathesis ({module_engine}): {cases} cases on {len(seen)} operations, then "
          f"{more} on {len(seen_on_existing)} operations on existing objects:",
          {operation: dict(statuses) for operation, statuses in sorted(seen.items())},
          {operation: dict(statuses)
           for operation, statuses in sorted(seen_on_existing.items())})
