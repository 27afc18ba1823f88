"""What synthetic tenants and partners are called, and how countries and offers are weighted.

Pure data, kept apart from the draws (synthetic_draws.py) that pick from it, so the look of the data can change
without reading the generator.
"""

from __future__ import annotations

from db.enums import Offer
from gateway.seed.catalog import COUNTRY_CURRENCY

COUNTRIES = tuple(COUNTRY_CURRENCY)
COUNTRY_WEIGHTS = (30, 4, 14, 3, 10, 8, 5, 3, 3, 2, 3, 3, 2, 2, 5, 3)
OFFER_WEIGHTS = {
    Offer.AZURE: 40,
    Offer.MICROSOFT_365: 30,
    Offer.INTUNE: 10,
    Offer.ENTERPRISE_MOBILITY_SUITE: 10,
    Offer.DYNAMICS_365: 10,
}
NAME_STEMS = (
    "Northwind", "Fabrikam", "Contoso", "Tailspin", "Woodgrove", "Litware", "Adatum", "Proseware", "Lucerne",
    "Alpine", "Coho", "Fourth Coffee", "Graphic Design", "Humongous", "Margie's", "Relecloud", "Southridge",
    "Trey", "Wingtip", "Wide World", "Blue Yonder", "Consolidated", "First Up", "Bellows", "Nod",
)  # fmt: skip
NAME_TRADES = (
    "Logistics", "Traders", "Health", "Energy", "Foods", "Manufacturing", "Insurance", "Media", "Retail",
    "Engineering", "Pharma", "Hotels", "Motors", "Studios", "Analytics", "Outfitters", "Bank", "Telecom",
)  # fmt: skip
COMPANY_FORMS = ("Ltd", "Inc", "GmbH", "SA", "BV", "AB", "plc", "LLC", "Pty Ltd", "AG")
PARTNER_TRADES = (
    "Cloud Partners",
    "IT Services",
    "Consulting",
    "Digital",
    "Solutions",
    "Systems",
    "Technologies",
)
FIRST_NAMES = (
    "Alex",
    "Sam",
    "Maria",
    "Jonas",
    "Aiko",
    "Priya",
    "Liam",
    "Chloe",
    "Mateo",
    "Ingrid",
    "Noah",
    "Zoe",
)
LAST_NAMES = ("Smith", "Müller", "Dubois", "Tanaka", "Patel", "Jensen", "García", "Rossi", "Okafor", "Nowak")
