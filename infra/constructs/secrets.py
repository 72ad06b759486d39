"""Secrets the stack creates with a placeholder and an operator fills in after the first deploy."""

from __future__ import annotations

import json

from aws_cdk import Acknowledgment, RemovalPolicy, Validations
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

# What the webhook function reads as "no secret yet" (marginlens.revenue.webhook.parse_secret_value):
# the generated placeholder only fills a JSON key nobody reads, so it never signs anything.
PLACEHOLDER_TEMPLATE = json.dumps({"secrets": []})
# What the reconciliation reads as "no keys yet" (marginlens.usecases.reconciliation.admin_keys takes
# only the keys `openai` and `anthropic`): the generated placeholder fills a key nobody reads.
NO_PROVIDER_KEYS_TEMPLATE = json.dumps({})


class Secrets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)

        # The Stripe webhook endpoint's signing secret(s). After deploy, put the `whsec_...` value
        # from Stripe's dashboard in it (a plain string, `whsec_new,whsec_old` while rolling, or
        # {"secrets": [...]}). No fixed name: a deleted secret's name stays taken for its recovery
        # window, which would block re-creating a dev stack; the ARN is a stack output.
        self.stripe_webhook = secretsmanager.Secret(
            self,
            "StripeWebhookSecret",
            description="MarginLens: Stripe webhook signing secret(s), whsec_... (set after deploy)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=PLACEHOLDER_TEMPLATE,
                generate_string_key="placeholder",
                exclude_punctuation=True,
            ),
            removal_policy=removal_policy,
        )
        Validations.of(self.stripe_webhook).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SMG4",
                reason="A Stripe webhook signing secret is issued and rolled in Stripe's dashboard "
                "(which keeps the old one valid for a chosen overlap); Secrets Manager cannot rotate "
                "it. Rolling: put `whsec_new,whsec_old` here, then just `whsec_new` once it expires.",
            )
        )

        # The Slack incoming-webhook URL alerts are posted to (slack_notifier function). After deploy,
        # put the `https://hooks.slack.com/services/...` URL in it (the URL itself, or {"url": ...}).
        # Until then the generated placeholder is no URL, and the notifier skips posting.
        self.slack_webhook = secretsmanager.Secret(
            self,
            "SlackWebhookSecret",
            description="MarginLens: Slack incoming-webhook URL for alerts (set after deploy)",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True),
            removal_policy=removal_policy,
        )
        Validations.of(self.slack_webhook).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SMG4",
                reason="A Slack incoming-webhook URL is issued by Slack (app settings > Incoming "
                "Webhooks); Secrets Manager cannot rotate it. Rolling: add a new webhook in Slack, put "
                "its URL here, then revoke the old one.",
            )
        )

        # The providers' admin API keys the reconcile_costs function fetches their cost reports with.
        # After deploy, put {"openai": "sk-admin-...", "anthropic": "sk-ant-admin-..."} in it (either
        # key alone is fine). Until then the placeholder holds neither, and the daily run reconciles
        # nothing (a CSV import through POST /v1/reconciliation/import still works).
        self.provider_admin_keys = secretsmanager.Secret(
            self,
            "ProviderAdminKeysSecret",
            description="MarginLens: providers' admin API keys for cost reconciliation, "
            '{"openai": ..., "anthropic": ...} (set after deploy)',
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=NO_PROVIDER_KEYS_TEMPLATE,
                generate_string_key="placeholder",
                exclude_punctuation=True,
            ),
            removal_policy=removal_policy,
        )
        Validations.of(self.provider_admin_keys).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SMG4",
                reason="OpenAI and Anthropic admin API keys are issued and revoked in each provider's "
                "console (organization settings > Admin keys); Secrets Manager cannot rotate them. "
                "Rolling: create a new admin key, put it here, then revoke the old one.",
            )
        )
