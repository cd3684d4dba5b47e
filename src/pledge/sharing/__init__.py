"""Minimum-necessary sharing, disclosure records and staff views.

sharing = Sharing(enforcer, db, audit, directory=ledger.directory)
sent = sharing.share(row, "list_broker", "list_rental", subject_id=s, fields=FIELDS)
sharing.record_disclosure("district_court", subject_id=s, categories=[...],
                          legal_basis="court_order", reference="Case 12-345")
screen = sharing.view("support", row, FIELDS)
"""

from pledge.sharing.disclosures import AUTHORITY_BASES, Disclosure, Sharing
from pledge.sharing.views import mask, view

__all__ = ["AUTHORITY_BASES", "Disclosure", "Sharing", "mask", "view"]
