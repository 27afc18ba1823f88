"""What usage looks like: the meters each offer bills, and the currencies tenants pay in.

Prices are list prices in USD per unit; a tenant's currency converts them with a fixed rate, so amounts are
plausible without claiming to be any real price sheet. Meter ids are GUIDs, as in the Azure and Microsoft 365
price sheets, derived from the meter's name so they never change between runs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from db.enums import Offer

METER_NAMESPACE = uuid.UUID("2f5c7f0e-8d1a-4c8e-9a51-3c2b6f1d0a77")


@dataclass(frozen=True, slots=True)
class Meter:
    meter_id: str
    service_name: str
    meter_category: str
    meter_name: str
    unit: str
    unit_price_usd: Decimal
    # Typical daily quantity for a small customer; larger customers scale it.
    daily_low: Decimal
    daily_high: Decimal
    # Licences are counted in whole seats; consumption has fractions.
    whole_units: bool


def _meter(
    service: str, category: str, name: str, unit: str, price: str, low: str, high: str, *, whole: bool = False
) -> Meter:
    return Meter(
        meter_id=str(uuid.uuid5(METER_NAMESPACE, f"{category}/{name}")),
        service_name=service,
        meter_category=category,
        meter_name=name,
        unit=unit,
        unit_price_usd=Decimal(price),
        daily_low=Decimal(low),
        daily_high=Decimal(high),
        whole_units=whole,
    )


def _seats(service: str, category: str, name: str, monthly_usd: str, low: str, high: str) -> Meter:
    # Licences bill per user and day: a 30th of the monthly price, kept to the 6 digits amounts have.
    daily = (Decimal(monthly_usd) / 30).quantize(Decimal("0.000001"))
    return _meter(service, category, name, "1 User/Day", str(daily), low, high, whole=True)


METERS: dict[Offer, tuple[Meter, ...]] = {
    Offer.AZURE: (
        _meter("Compute", "Virtual Machines", "D2s v5", "1 Hour", "0.096", "24", "240"),
        _meter("Compute", "Virtual Machines", "B2ms", "1 Hour", "0.0832", "24", "120"),
        _meter("Storage", "Storage", "Hot LRS Data Stored", "1 GB/Month", "0.000613", "500", "20000"),
        _meter("Storage", "Storage", "P10 LRS Disk", "1/Day", "0.6336", "2", "20"),
        _meter("Databases", "SQL Database", "General Purpose vCore", "1 Hour", "0.5044", "24", "96"),
        _meter("Networking", "Bandwidth", "Standard Data Transfer Out", "1 GB", "0.087", "5", "400"),
    ),
    Offer.MICROSOFT_365: (
        _seats("Office 365", "Microsoft 365", "Microsoft 365 E3", "36.00", "25", "400"),
        _seats("Office 365", "Microsoft 365", "Microsoft 365 Business Premium", "22.00", "10", "300"),
        _seats("Office 365", "Exchange Online", "Exchange Online (Plan 1)", "4.00", "10", "200"),
        _seats("Office 365", "Microsoft Teams", "Teams Phone Standard", "8.00", "5", "150"),
        _meter(
            "Office 365",
            "SharePoint",
            "Office 365 Extra File Storage",
            "1 GB/Month",
            "0.006667",
            "10",
            "2000",
        ),
        _seats("Office 365", "Microsoft 365", "Microsoft 365 Copilot", "30.00", "5", "100"),
    ),
    Offer.INTUNE: (
        _seats("Intune", "Microsoft Intune", "Intune Plan 1", "8.00", "20", "500"),
        _seats("Intune", "Microsoft Intune", "Intune Suite", "10.00", "10", "200"),
        _seats("Intune", "Microsoft Intune", "Endpoint Privilege Management", "3.00", "5", "100"),
        _seats("Intune", "Microsoft Intune", "Remote Help", "3.50", "5", "80"),
        _seats("Intune", "Microsoft Intune", "Advanced Analytics", "1.50", "10", "300"),
        _meter("Intune", "Microsoft Intune", "Cloud PKI Certificates", "1 Certificate", "0.002", "50", "5000"),
    ),
    Offer.ENTERPRISE_MOBILITY_SUITE: (
        _seats("Enterprise Mobility + Security", "EMS", "Enterprise Mobility + Security E3", "10.60", "20", "400"),
        _seats("Enterprise Mobility + Security", "EMS", "Enterprise Mobility + Security E5", "16.40", "10", "200"),
        _seats("Enterprise Mobility + Security", "Microsoft Entra", "Microsoft Entra ID P1", "6.00", "20", "500"),
        _seats("Enterprise Mobility + Security", "Microsoft Entra", "Microsoft Entra ID P2", "9.00", "10", "200"),
        _seats(
            "Enterprise Mobility + Security",
            "Purview",
            "Azure Information Protection P1",
            "2.00",
            "10",
            "300",
        ),
        _meter(
            "Enterprise Mobility + Security",
            "Microsoft Entra",
            "External ID MAU",
            "1 User",
            "0.00325",
            "100",
            "8000",
        ),
    ),
    Offer.DYNAMICS_365: (
        _seats("Dynamics 365", "Dynamics 365 Sales", "Dynamics 365 Sales Enterprise", "105.00", "5", "120"),
        _seats(
            "Dynamics 365",
            "Dynamics 365 Customer Service",
            "Customer Service Enterprise",
            "105.00",
            "5",
            "100",
        ),
        _seats("Dynamics 365", "Dynamics 365 Finance", "Dynamics 365 Finance", "210.00", "2", "40"),
        _seats("Dynamics 365", "Power Platform", "Power Apps Premium", "20.00", "10", "200"),
        _meter("Dynamics 365", "Dataverse", "Dataverse Database Capacity", "1 GB/Month", "1.333333", "10", "500"),
        _meter("Dynamics 365", "Power Platform", "Power Automate Process Runs", "1 Run", "0.0006", "200", "50000"),
    ),
}

# The most meters any subscription can report per day: distinct meters, since (subscription, day, meter) is
# the natural key of a usage record.
MAX_METERS_PER_SUBSCRIPTION = min(len(meters) for meters in METERS.values())

# Units of the tenant's currency per US dollar.
CURRENCY_PER_USD: dict[str, Decimal] = {
    "USD": Decimal("1"),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "CHF": Decimal("0.88"),
    "SEK": Decimal("10.45"),
    "DKK": Decimal("6.87"),
    "NOK": Decimal("10.71"),
    "CAD": Decimal("1.36"),
    "AUD": Decimal("1.52"),
    "JPY": Decimal("149.80"),
}

COUNTRY_CURRENCY: dict[str, str] = {
    "US": "USD",
    "CA": "CAD",
    "GB": "GBP",
    "IE": "EUR",
    "DE": "EUR",
    "FR": "EUR",
    "NL": "EUR",
    "ES": "EUR",
    "IT": "EUR",
    "AT": "EUR",
    "CH": "CHF",
    "SE": "SEK",
    "DK": "DKK",
    "NO": "NOK",
    "AU": "AUD",
    "JP": "JPY",
}
