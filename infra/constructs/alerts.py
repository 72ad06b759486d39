"""The SNS topic operational alerts go to (`price_sync_failed`, ...), with optional e-mail subscribers."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

# SNS's AWS-managed key: encryption at rest without a customer key to administer. Its key policy
# lets principals of this account use it through SNS, so publishers need no KMS grant.
AWS_MANAGED_SNS_KEY = "alias/aws/sns"


class Alerts(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, emails: Sequence[str] = ()) -> None:
        super().__init__(scope, construct_id)

        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="MarginLens alerts",
            enforce_ssl=True,
            master_key=kms.Alias.from_alias_name(self, "SnsKey", AWS_MANAGED_SNS_KEY),
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))


def parse_emails(value: object) -> list[str]:
    """Context `alertEmails`: comma-separated on the command line, a list or a string in cdk.json."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    emails = [str(item).strip() for item in items if str(item).strip()]
    for email in emails:
        if "@" not in email or any(ch.isspace() for ch in email):
            raise ValueError(f"alertEmails: {email!r} is not an e-mail address")
    return emails
