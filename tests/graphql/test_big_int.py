"""The BigInt scalar (schema/scalars.py): 64-bit integers as decimal strings, answered exactly past Int's 2^31 - 1
(the change events' sequences, tests/service/test_webhook_delivery.py and test_subscriptions_ws.py show it over the
API); as an input only the exact decimal spelling of a 64-bit integer is taken."""

from __future__ import annotations

import pytest
from strawberry.exceptions import StrawberryInputCoercionError

from schema.scalars import BigIntScalar


@pytest.mark.parametrize("value", [0, 2**31, 2**53 + 1, 2**63 - 1, -(2**63)])
def test_a_64_bit_integer_goes_out_and_back_exactly(value: int) -> None:
    assert BigIntScalar.serialize is not None and BigIntScalar.parse_value is not None
    written = BigIntScalar.serialize(value)
    assert written == str(value)
    assert BigIntScalar.parse_value(written) == value


@pytest.mark.parametrize("given", [2147483648, 1.0, "", "01", "+1", "1e3", " 1", "-0x1", str(2**63), str(-(2**63) - 1)])
def test_anything_but_the_decimal_string_of_a_64_bit_integer_is_refused(given: object) -> None:
    assert BigIntScalar.parse_value is not None
    with pytest.raises(StrawberryInputCoercionError, match="BigInt values are decimal strings"):
        BigIntScalar.parse_value(given)
