"""The import protocol (protocol.py) and what it relies on: one mail into Odoo's
gateway (gateway.py with protection.py, contacts.py, prepared.py, outcome.py,
extraction.py; threads.py) and the administrators' alerts (health.py)."""
