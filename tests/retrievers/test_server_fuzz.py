"""Schemathesis against the server's own OpenAPI document: no request it describes gets a 5xx."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@pytest.mark.parametrize("path, method", [("/retrieve", "POST"), ("/health", "GET")])
def test_schema_cases_get_no_server_error(server, path, method):
    """Requests generated from ``/openapi.json`` (40 per operation) get documented, conforming answers."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operation = schema[path][method]
    if path == "/retrieve":  # the request body is documented, so cases carry real queries
        assert "requestBody" in operation.definition.raw
    strategy = operation.as_strategy()
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data):
        case = data.draw(strategy)
        case.call_and_validate(base_url=server.url, checks=checks, timeout=30)

    run()
