"""DPOR invitations (issue 14): a partner offers, by an opaque code, to become the Digital Partner of Record of a
tenant's subscriptions; the tenant's owner previews the offer and accepts or declines it.

- codes.py: the code (256 random bits), its stored SHA-256, and the guard that rate-limits failed lookups per caller;
- state.py: an invitation's status (ACTIVE, EXPIRED, REVOKED, USED_UP) at an instant of the server's clock;
- issuing.py: the partner's side (create, revoke, list its own);
- redeeming.py: the owner's side (preview, accept, decline). An acceptance sets or replaces the DPOR of the chosen
  subscriptions with setDigitalPartnerOfRecord's steps, set-based as bulkSetDigitalPartnerOfRecord runs them, so
  its rules, history and audit are that mutation's.
"""
