"""Customer names and the Stripe customer -> MarginLens customer mapping."""

import pytest

from marginlens.core.settings import Settings
from marginlens.revenue.customers import CustomerStore
from marginlens.storage.dynamodb import DynamoDBClient

pytestmark = pytest.mark.integration


@pytest.fixture
def customers(client: DynamoDBClient, settings: Settings) -> CustomerStore:
    return CustomerStore(client, settings.table_name)


def test_names_and_an_api_mapping(customers: CustomerStore) -> None:
    customers.put_customer("plexo", "Plexo Health", "cus_plexo")
    customers.put_customer("helix", "Helix Robotics", None)
    assert customers.names() == {"plexo": "Plexo Health", "helix": "Helix Robotics"}
    mapped = customers.stripe_customer("cus_plexo")
    assert mapped is not None and (mapped.customer_id, mapped.mapped_by) == ("plexo", "api")
    # Renaming keeps the Stripe link.
    customers.put_customer("plexo", "Plexo Health Inc.", None)
    assert customers.customer("plexo")["stripe_customer_id"] == "cus_plexo"  # type: ignore[index]


def test_metadata_maps_a_stripe_customer_but_never_overrides_the_api(customers: CustomerStore) -> None:
    record = customers.record_from_stripe("cus_1", "acct_1", "Acme", "billing@acme.test")
    assert (record.customer_id, record.mapped_by) == ("acct_1", "metadata")
    unmapped = customers.record_from_stripe("cus_2", None, "NoMeta", None)
    assert unmapped.customer_id is None and customers.stripe_customer("cus_2") == unmapped

    customers.put_customer("acct_9", "Chosen", "cus_1")
    again = customers.record_from_stripe("cus_1", "acct_1", "Acme renamed", None)
    assert (again.customer_id, again.mapped_by, again.name) == ("acct_9", "api", "Acme renamed")
