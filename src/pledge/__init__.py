"""Pledge: a privacy policy, kept by code.

Declare the promises once (``privacy.yaml``), enforce them where personal data is read, shared,
kept and deleted, and prove it with a tamper-evident audit log.
"""

__version__ = "0.1.0"
