"""The demo dataset, as data: who the tenants, partners and subscriptions are, and what happened to them.

Instants are `At(day, clock)`: days from the first day of the usage window, so the story stays inside the
13 months of usage whatever day it is loaded. gateway/seed/demo_rows.py turns this into rows; the shapes are
demo_model.py's.
"""

from __future__ import annotations

import uuid

from db.enums import AssociationEndReason, AssociationType, Offer
from gateway.seed.demo_model import At, DemoLink, DemoSubscription, DemoTenant

# The tenant a dev OWNER token names in its `tid` claim.
DEMO_OWNER_TENANT_EXTERNAL_ID = uuid.UUID("3f6c2a9e-7b41-4d8e-a5c2-91e0b7d4f3a1")  # Contoso Ltd
# The current Digital Partner of Record of two of that tenant's subscriptions (a dev PARTNER token).
DEMO_PARTNER_MPN_ID = "3987120"  # Proseware Cloud Services
# A partner with an active delegated admin relationship on that tenant (a dev DELEGATED_ADMIN token).
DEMO_DELEGATED_PARTNER_MPN_ID = "4125398"  # Adatum Consulting


TENANTS = (
    DemoTenant(
        "contoso",
        DEMO_OWNER_TENANT_EXTERNAL_ID,
        "Contoso Ltd",
        "contoso.com",
        "US",
        (
            ("Megan Bowen", "megan.bowen@contoso.com", "+1 425 555 0109"),
            ("Alex Wilber", "alex.wilber@contoso.com", "+1 425 555 0134"),
        ),
    ),
    DemoTenant(
        "fabrikam",
        uuid.UUID("a1d7e5c3-2f48-4b9a-8e61-5c3b9f0d2e74"),
        "Fabrikam, Inc.",
        "fabrikam.com",
        "US",
        (("Diego Siciliani", "diego.siciliani@fabrikam.com", "+1 206 555 0187"),),
    ),
    DemoTenant(
        "northwind",
        uuid.UUID("5e9b1c7a-84d2-4f6e-b3a0-7d2c8e4f1b59"),
        "Northwind Traders",
        "northwindtraders.co.uk",
        "GB",
        (("Isaiah Langer", "isaiah.langer@northwindtraders.co.uk", "+44 20 7946 0321"),),
    ),
    DemoTenant(
        "adventureworks",
        uuid.UUID("d4f2a8e6-1b37-4c5d-9f80-3e6a1c7b5d28"),
        "Adventure Works Cycles GmbH",
        "adventure-works.de",
        "DE",
        (
            ("Lena Hoffmann", "lena.hoffmann@adventure-works.de", "+49 30 5550 1427"),
            ("Jonas Becker", "jonas.becker@adventure-works.de", None),
        ),
    ),
    DemoTenant(
        "tailspin",
        uuid.UUID("8b3e6f1d-5a92-4e7c-a4d1-0f9c2b6e8a37"),
        "Tailspin Toys SAS",
        "tailspintoys.fr",
        "FR",
        (("Camille Laurent", "camille.laurent@tailspintoys.fr", "+33 1 99 00 42 17"),),
    ),
    DemoTenant(
        "woodgrove",
        uuid.UUID("2c7a9d4e-6f13-4b8a-95e2-d1b0a3c6f849"),
        "Woodgrove Bank plc",
        "woodgrovebank.co.uk",
        "GB",
        (("Priya Raman", "priya.raman@woodgrovebank.co.uk", "+44 161 496 0752"),),
    ),
)

# (MPN id, name, country). MPN ids are below the synthetic generator's range (5,000,000 and up).
PARTNERS = (
    (DEMO_DELEGATED_PARTNER_MPN_ID, "Adatum Consulting", "US"),
    (DEMO_PARTNER_MPN_ID, "Proseware Cloud Services", "GB"),
    ("2764051", "Trey Research Partners", "US"),
    ("4410287", "Wide World IT Solutions", "NL"),
    ("1893346", "Lucerne Digital AG", "CH"),
    ("3356902", "Alpine Ski House Systems", "AT"),
    ("2058713", "Coho Technologies", "IE"),
)
ADATUM, PROSEWARE, TREY, WIDE_WORLD, LUCERNE, ALPINE, COHO = (mpn for mpn, _, _ in PARTNERS)

SUBSCRIPTIONS = (
    # Contoso: replaced mid-window (the demo partner is current), kept all along, removed by the owner,
    # never set.
    DemoSubscription(
        "6e2d9b41-3c7a-4f85-b0e6-1a9d4c7f2e83",
        "contoso",
        Offer.AZURE,
        "Contoso Production",
        dpor=((ADATUM, At(-210, "10:15:00")), (PROSEWARE, At(151, "14:37:21"))),
        links=(
            DemoLink(AssociationType.PARTNER_ADMIN_LINK, PROSEWARE, At(152, "09:02:44")),
            DemoLink(AssociationType.TRANSACTING_PARTNER, ADATUM, At(-210, "10:20:00")),
        ),
        meters=4,
        tier=2,
    ),
    DemoSubscription(
        "b7f1c5a3-9e24-4d6b-8a07-3f5e2c9d1b64",
        "contoso",
        Offer.MICROSOFT_365,
        "Contoso Microsoft 365",
        dpor=((PROSEWARE, At(-95, "16:48:09")),),
        meters=3,
        tier=2,
    ),
    DemoSubscription(
        "0c4e8a26-d7b1-4e39-9f52-6a1b3d8c7e05",
        "contoso",
        Offer.AZURE,
        "Contoso Dev/Test",
        dpor=((TREY, At(-40, "08:00:00")),),
        removed=At(222, "09:12:05"),
        meters=2,
        tier=0,
    ),
    DemoSubscription(
        "f3a9d7e1-5b62-4c8f-a0d4-9e7b1c3f5a26",
        "contoso",
        Offer.INTUNE,
        "Contoso Devices",
        meters=2,
        tier=1,
    ),
    # Fabrikam: a replacement early in the window, a current DPOR on Dynamics, an unlinked claim.
    DemoSubscription(
        "9d5b3f71-2a8e-4c06-b4e9-7f1d6a2c8b39",
        "fabrikam",
        Offer.AZURE,
        "Fabrikam Cloud Platform",
        dpor=((WIDE_WORLD, At(-300, "11:30:00")), (ADATUM, At(41, "11:05:47"))),
        meters=3,
        tier=1,
    ),
    DemoSubscription(
        "4a8c2e6f-7d13-4b59-9e0a-5c3f8b1d7a62",
        "fabrikam",
        Offer.DYNAMICS_365,
        "Fabrikam Sales",
        dpor=((LUCERNE, At(-120, "13:45:30")),),
        links=(
            DemoLink(
                AssociationType.CLAIMING_PARTNER_OF_RECORD,
                TREY,
                At(60, "15:20:11"),
                (At(64, "10:00:59"), AssociationEndReason.UNLINKED),
            ),
        ),
        meters=2,
        tier=0,
    ),
    DemoSubscription(
        "e6b0d4a8-3f95-4e17-8c2b-1d7a9f5e3c40",
        "fabrikam",
        Offer.ENTERPRISE_MOBILITY_SUITE,
        "Fabrikam Security",
        meters=2,
        tier=1,
    ),
    # Northwind: replaced twice inside the window, and a transacting partner next to the DPOR.
    DemoSubscription(
        "2f7e1a9c-8b46-4d3e-a5f0-6c9b2d4e8a17",
        "northwind",
        Offer.AZURE,
        "Northwind Analytics",
        dpor=(
            (ADATUM, At(-500, "09:00:00")),
            (PROSEWARE, At(88, "12:00:01")),
            (WIDE_WORLD, At(301, "17:59:42")),
        ),
        meters=3,
        tier=1,
    ),
    DemoSubscription(
        "7a3c5e9b-1d64-4f82-b0a7-8e2f4c6d9b15",
        "northwind",
        Offer.MICROSOFT_365,
        "Northwind Workplace",
        dpor=((WIDE_WORLD, At(-60, "10:10:10")),),
        links=(DemoLink(AssociationType.TRANSACTING_PARTNER, LUCERNE, At(-60, "10:12:00")),),
        meters=3,
        tier=1,
    ),
    DemoSubscription(
        "c1e9f3b7-6a28-4d5c-9e04-2b8d7f1a3c56",
        "northwind",
        Offer.INTUNE,
        "Northwind Devices",
        dpor=((PROSEWARE, At(12, "08:30:27")),),
        meters=2,
        tier=0,
    ),
    # Adventure Works (EUR): a current DPOR, and one removed by the owner.
    DemoSubscription(
        "5b9d1f3e-4c7a-4e2b-8d61-0a3f9c5e7b28",
        "adventureworks",
        Offer.AZURE,
        "Adventure Works Manufacturing",
        dpor=((ALPINE, At(-180, "07:45:00")),),
        meters=4,
        tier=2,
    ),
    DemoSubscription(
        "8e4a6c2d-9f17-4b3a-a5e8-7d1c3b9f0e62",
        "adventureworks",
        Offer.ENTERPRISE_MOBILITY_SUITE,
        "Adventure Works Identity",
        dpor=((COHO, At(-30, "14:00:00")),),
        removed=At(274, "16:21:38"),
        meters=2,
        tier=1,
    ),
    # Tailspin Toys (EUR): Dynamics with a DPOR, Microsoft 365 never set.
    DemoSubscription(
        "3d8f0b6a-2e59-4c1d-b7a3-9f6e4a2c8d71",
        "tailspin",
        Offer.DYNAMICS_365,
        "Tailspin Customer Service",
        dpor=((COHO, At(-75, "09:33:33")),),
        meters=3,
        tier=0,
    ),
    DemoSubscription(
        "a6c2e8f4-0b37-4d9e-8f15-3e7a1d5b9c04",
        "tailspin",
        Offer.MICROSOFT_365,
        "Tailspin Office",
        meters=2,
        tier=0,
    ),
    # Woodgrove Bank (GBP): a DPOR kept since long before the window, and a pending claim by another partner.
    DemoSubscription(
        "1f5a7c3e-8d24-4b6f-9a0c-5e2d8b4f7a13",
        "woodgrove",
        Offer.AZURE,
        "Woodgrove Core Banking",
        dpor=((ADATUM, At(-700, "12:00:00")),),
        links=(DemoLink(AssociationType.CLAIMING_PARTNER_OF_RECORD, PROSEWARE, At(330, "11:11:11")),),
        meters=4,
        tier=2,
    ),
)

# (tenant, partner, created, ended): one active relationship on the owner tenant (the delegated dev token's),
# one ended inside the window.
DELEGATIONS = (
    ("contoso", DEMO_DELEGATED_PARTNER_MPN_ID, At(-400, "10:00:00"), None),
    ("contoso", TREY, At(-45, "09:00:00"), At(222, "09:15:40")),
    ("northwind", PROSEWARE, At(-20, "15:30:00"), None),
)

DEMO_TENANT_EXTERNAL_IDS = tuple(tenant.external_id for tenant in TENANTS)
DEMO_PARTNER_MPN_IDS = tuple(mpn for mpn, _, _ in PARTNERS)
DEMO_SUBSCRIPTION_EXTERNAL_IDS = tuple(sub.external_id for sub in SUBSCRIPTIONS)
