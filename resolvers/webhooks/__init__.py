"""Webhooks (issue 15): endpoints (endpoints.py), where they may point (addresses.py), publishing change events to
them (sequencer.py), and delivering (delivery.py over transport.py)."""
