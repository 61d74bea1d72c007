"""The service endpoints (§8): /health and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from service import create_app
from service.config import Settings

#: Every path of §4, §5 and §8 with its methods.
CONTRACT_PATHS = {
    "/api/v1/figures": {"get", "post"},
    "/api/v1/figures/batch": {"post"},
    "/api/v1/figures/{figure_id}": {"get", "patch"},
    "/api/v1/figures/{figure_id}/history": {"get"},
    "/api/v1/figures/{figure_id}/retract": {"post"},
    "/api/v1/figures/{figure_id}/disputes": {"get", "post"},
    "/api/v1/sources": {"get"},
    "/api/v1/sources/{source_id}": {"get", "patch"},
    "/api/v1/health": {"get"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def test_health(client: FlaskClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json() == {"status": "ok", "database": "ok", "scheduler": "off",
                                   "last_run": None}


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    return response.get_json()


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        prefix, _, name = node["$ref"].rpartition("/")
        assert prefix in ("#/components/schemas", "#/components/responses"), node
        node = spec["components"][prefix.rsplit("/", 1)[1]][name]
    return node


def properties(spec: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    schema = resolve(spec, schema)
    return set(schema.get("properties", {}))


def test_openapi_document(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3")
    assert spec["info"]["title"] and spec["info"]["version"]
    paths = {path: {m for m in ops if m in HTTP_METHODS} for path, ops in spec["paths"].items()}
    for path, methods in CONTRACT_PATHS.items():
        assert path in paths, path
        assert methods <= paths[path], (path, paths[path])
        assert "delete" not in paths[path]


@pytest.mark.parametrize(("path", "method"), sorted(
    (path, method) for path, methods in CONTRACT_PATHS.items() for method in methods))
def test_every_operation_has_its_schemas(spec: dict[str, Any], path: str,
                                         method: str) -> None:
    operation = spec["paths"][path][method]
    if method in ("post", "patch"):
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert properties(spec, body), (path, method)
    successes = {code: resolve(spec, answer) for code, answer in operation["responses"].items()
                 if code.startswith("2")}
    assert len(successes) == 1, (path, method)
    ((code, answer),) = successes.items()
    assert code == ("201" if method == "post" and not path.endswith("/retract") else "200")
    schema = answer["content"]["application/json"]["schema"]
    assert properties(spec, schema), (path, method)


@pytest.mark.parametrize(("path", "schema_fields"), [
    ("/api/v1/figures", {"items", "next_cursor"}),
    ("/api/v1/figures/{figure_id}", {"id", "conflict", "source", "count", "qualifier", "low",
                                     "high", "status", "version", "created_at", "updated_at"}),
    ("/api/v1/sources/{source_id}", {"id", "name", "kind", "affiliation", "created_at"}),
    ("/api/v1/health", {"status", "database", "scheduler", "last_run"}),
])
def test_response_schemas_name_the_contract_fields(spec: dict[str, Any], path: str,
                                                   schema_fields: set[str]) -> None:
    answer = resolve(spec, spec["paths"][path]["get"]["responses"]["200"])
    assert schema_fields <= properties(spec, answer["content"]["application/json"]["schema"])


def test_request_schemas_name_the_contract_fields(spec: dict[str, Any]) -> None:
    def body(path: str, method: str) -> set[str]:
        operation = spec["paths"][path][method]
        return properties(spec, operation["requestBody"]["content"]["application/json"]
                          ["schema"])

    figure_fields = {"conflict", "source", "category", "side", "location", "incident",
                     "count", "count_high", "qualifier", "unit", "reported_on", "as_of",
                     "period_start", "quote", "url", "notes", "location_code", "group", "via"}
    assert body("/api/v1/figures", "post") == figure_fields
    assert body("/api/v1/figures/{figure_id}", "patch") == figure_fields
    assert body("/api/v1/figures/batch", "post") == {"figures"}
    assert body("/api/v1/extractions", "post") == {"text", "conflict", "reported_on", "url"}
    assert body("/api/v1/figures/{figure_id}/retract", "post") == {"reason"}
    assert body("/api/v1/figures/{figure_id}/disputes", "post") == {
        "source", "reported_on", "quote", "url"}
    assert body("/api/v1/sources/{source_id}", "patch") == {"kind", "affiliation"}
    required = resolve(spec, spec["paths"]["/api/v1/figures"]["post"]["requestBody"]
                       ["content"]["application/json"]["schema"])["required"]
    assert set(required) == {"conflict", "source", "category", "count", "reported_on"}


def test_openapi_lists_the_figure_filters(spec: dict[str, Any]) -> None:
    names = {p["name"] for p in spec["paths"]["/api/v1/figures"]["get"]["parameters"]
             if p["in"] == "query"}
    assert {"conflict", "source", "category", "side", "location", "incident", "status",
            "reported_from", "reported_to", "as_of_from", "as_of_to", "limit",
            "cursor"} <= names


def test_openapi_needs_no_token(client: FlaskClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = client.get("/api/v1/openapi.json", headers=headers)
        assert response.status_code == 200
        assert response.get_json()["openapi"].startswith("3")


def test_health_is_a_503_problem_when_the_database_cannot_be_used(tmp_path: Path) -> None:
    db_path = tmp_path / "casualty-tracker.db"
    app = create_app(Settings(db_path=db_path, reconcile_seconds=0))
    db_path.unlink()
    db_path.mkdir()  # a directory where the database was: SQLite cannot open it
    response = app.test_client().get("/api/v1/health")
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.get_json()["detail"].startswith("The database cannot be used")
