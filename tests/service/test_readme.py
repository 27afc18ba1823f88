"""The README stays true for a newcomer: its example ids exist in the demo data, and it documents every error code
the gateway emits and its probes (issue 10 item 14)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from gateway.seed.demo_data import DEMO_PARTNER_MPN_IDS, DEMO_TENANT_EXTERNAL_IDS
from resolvers.codes import Code
from resolvers.errors import GatewayError

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _error_table() -> str:
    start = README.index("#### Error codes")
    return README[start : README.index("####", start + 1)]


def test_the_example_ids_exist_in_the_demo_data() -> None:
    tenants = re.findall(r"--tenant ([0-9a-f-]{36})", README)
    partners = re.findall(r"--partner ([0-9]+)", README)
    assert tenants and partners
    assert {uuid.UUID(tenant) for tenant in tenants} <= set(DEMO_TENANT_EXTERNAL_IDS), tenants
    assert set(partners) <= set(DEMO_PARTNER_MPN_IDS), partners


def _subclasses(cls: type[GatewayError]) -> list[type[GatewayError]]:
    return [cls, *(sub for direct in cls.__subclasses__() for sub in _subclasses(direct))]


def test_every_error_code_is_documented() -> None:
    emitted = {code.value for code in Code} | {error.code for error in _subclasses(GatewayError)}
    documented = set(re.findall(r"`([A-Z][A-Z_]+)`", _error_table()))
    assert emitted - documented == set()


def test_the_probes_are_documented() -> None:
    assert "GET /healthz" in README
    assert "GET /readyz" in README
