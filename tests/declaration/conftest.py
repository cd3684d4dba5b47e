from __future__ import annotations

import textwrap

import pytest

# A small but complete declaration; tests patch one part at a time to break exactly one promise.
MINIMAL = textwrap.dedent(
    """\
    policy_version: "1.0"
    effective: 2024-01-01
    organisation:
      name: Acme Books Ltd
      country: GB
      contacts:
        - kind: privacy
          email: privacy@acme.test
    jurisdictions:
      - id: gdpr
        name: European Union and United Kingdom
    storage_regions:
      - id: uk
        name: United Kingdom
        countries: [GB]
    data_sources:
      - id: checkout
        name: Checkout form
        kind: order
        categories: [user.name, user.contact.email, user.contact.address, user.financial.credit_card]
        forward_only: [user.financial.credit_card]
        forward_to: [payments]
    stores:
      - id: shop_db
        name: Shop database
        region: uk
        categories: [user.name, user.contact.email, user.contact.address]
    purposes:
      - id: orders
        name: Fulfil orders
        lawful_basis: contract
        categories: [user.name, user.contact.email, user.contact.address, user.financial.credit_card]
      - id: newsletter
        name: Newsletter
        lawful_basis: consent
        categories: [user.contact.email]
        consent: {default: opt_in}
        channels: [email]
        withdraw: [unsubscribe_link, privacy_center]
        cookie_category: analytics
    recipients:
      - id: payments
        name: Card processor
        kind: processor
        purposes: [orders]
        categories: [user.financial.credit_card]
    cookies:
      - name: session
        category: strictly_necessary
        lifetime: session
      - name: _stats
        category: analytics
        lifetime: P1Y
    rights:
      - right: access
        deadline: P1M
        extension: P2M
    """
)


@pytest.fixture
def minimal_yaml() -> str:
    return MINIMAL
