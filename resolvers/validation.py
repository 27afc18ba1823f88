"""Input rules shared by mutations. Each failure is BAD_USER_INPUT naming the field.

`every` runs all the rules of one input and reports every failing field at once (as usage ingestion does), in
one BAD_USER_INPUT: `extensions.fields` lists `{field, message}` for each, in input order; `extensions.field`
(and any detail such as `maximum`) is the first one's, as when only the first was reported.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from resolvers.country_codes import COUNTRY_CODES
from resolvers.errors import BadUserInput


def every(**rules: Callable[[], Any]) -> dict[str, Any]:
    """{name: value} of every rule, or one BAD_USER_INPUT listing each rule that failed."""
    values: dict[str, Any] = {}
    failures: list[BadUserInput] = []
    for key, rule in rules.items():
        try:
            values[key] = rule()
        except BadUserInput as failure:
            failures.append(failure)
    if not failures:
        return values
    fields = [
        {"field": failure.extensions.get("field"), "message": failure.message}
        | {k: v for k, v in failure.extensions.items() if k not in ("code", "field")}
        for failure in failures
    ]
    first = failures[0]
    message = (
        first.message
        if len(failures) == 1
        else f"{len(failures)} invalid fields: " + "; ".join(failure.message for failure in failures)
    )
    details = {k: v for k, v in first.extensions.items() if k != "code"}
    raise BadUserInput(message, **(details | {"fields": fields}))


_MPN_ID = re.compile(r"[0-9]{1,20}")
# A pragmatic hostname check (RFC 1035 labels); the directory itself validated the domain when it was verified.
_DOMAIN = re.compile(r"(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}")
_PHONE = re.compile(r"\+?[0-9 ()-]{4,32}")


def name(value: str, field: str, *, max_length: int = 256) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise BadUserInput(f"{field} must not be empty", field=field)
    if len(cleaned) > max_length:
        raise BadUserInput(f"{field} is longer than {max_length} characters", field=field, maximum=max_length)
    return cleaned


def country_code(value: str, field: str = "countryCode") -> str:
    if value not in COUNTRY_CODES:
        raise BadUserInput(f"{field} is not an ISO 3166-1 alpha-2 code (e.g. US, DE)", field=field)
    return value


def mpn_id(value: str, field: str = "mpnId") -> str:
    if not _MPN_ID.fullmatch(value):
        raise BadUserInput(f"{field} must be 1 to 20 digits", field=field)
    return value


def domain(value: str, field: str = "primaryDomain") -> str:
    lowered = value.strip().lower()
    if not _DOMAIN.fullmatch(lowered):
        raise BadUserInput(f"{field} is not a valid domain name", field=field)
    return lowered


def email(value: str, field: str = "email") -> str:
    cleaned = value.strip()
    if len(cleaned) > 320 or not _EMAIL.fullmatch(cleaned):
        raise BadUserInput(f"{field} is not a valid email address", field=field)
    return cleaned


def phone(value: str | None, field: str = "phone") -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    if not _PHONE.fullmatch(cleaned):
        raise BadUserInput(f"{field} is not a valid phone number", field=field)
    return cleaned


def external_tenant_id(value: str, field: str = "externalId") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadUserInput(f"{field} is not a UUID", field=field) from None


def external_subscription_id(value: str, field: str = "externalId") -> str:
    cleaned = value.strip()
    if not 1 <= len(cleaned) <= 64 or not cleaned.isprintable():
        raise BadUserInput(f"{field} must be 1 to 64 printable characters", field=field, maximum=64)
    return cleaned


def expected_version(value: int, field: str = "expectedVersion") -> int:
    if value < 1:
        raise BadUserInput(f"{field} must be a positive version", field=field)
    return value
