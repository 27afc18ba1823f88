"""Opaque global IDs (Relay): base64url of "TypeName:uuid". Opaque to clients, cheap to decode, typed on input."""

from __future__ import annotations

import base64
import binascii
import uuid

from resolvers.errors import BadUserInput


def encode(type_name: str, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{row_id.hex}".encode()).decode().rstrip("=")


def decode_any(value: str, *, field: str = "id") -> tuple[str, uuid.UUID]:
    """(type name, row id) of a global ID; BAD_USER_INPUT naming the field when it is not one."""
    try:
        padded = value + "=" * (-len(value) % 4)
        type_name, _, hex_id = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii").partition(":")
        return type_name, uuid.UUID(hex=hex_id)
    except (ValueError, UnicodeError, binascii.Error):
        raise BadUserInput(f"{field} is not a valid ID", field=field) from None


def decode(value: str, expected_type: str, *, field: str = "id") -> uuid.UUID:
    type_name, row_id = decode_any(value, field=field)
    if type_name != expected_type:
        raise BadUserInput(f"{field} is not a {expected_type} ID", field=field)
    return row_id
