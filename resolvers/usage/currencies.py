"""ISO 4217 currency codes and their minor units, and rounding to them for presentation.

The list is ISO 4217 "list one" (current currencies and funds) as published in 2025, without the codes that
have no minor unit (precious metals, units of account, the testing and "no currency" codes): usage is billed
in money. Withdrawn codes (HRK, SLL, CUC, ZWL, ANG) are absent; their successors are present.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
_TWO_DECIMALS = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF "
    "CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ "
    "GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD "
    "MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON "
    "RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS "
    "UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
)

MINOR_UNITS: dict[str, int] = {
    code: digits
    for codes, digits in ((_ZERO_DECIMALS, 0), (_TWO_DECIMALS, 2), (_THREE_DECIMALS, 3), (_FOUR_DECIMALS, 4))
    for code in codes.split()
}


def is_currency(code: str) -> bool:
    return code in MINOR_UNITS


def minor_units(currency: str) -> int:
    """Digits after the decimal point of the currency's minor unit (JPY 0, USD 2, BHD 3)."""
    return MINOR_UNITS[currency]


def present(value: Fraction | Decimal, currency: str) -> Decimal:
    """Round an exact amount to the currency's minor unit, half-even: the only place amounts are rounded."""
    digits = minor_units(currency)
    # round() on a Fraction is exact and rounds half to even; the result is a whole number of minor units.
    units = round(Fraction(value) * 10**digits)
    return Decimal(units).scaleb(-digits)
