"""Every partition key MarginLens writes, in one place: the single table's layout.

Each name is a partition key or the prefix of one (ending in `#`, followed by what it is of).
Modules build their keys from these names, and the CDK construct grants each function Query on
the partitions listed at the end (IAM `dynamodb:LeadingKeys`), so the two cannot drift apart.

| partition | sort key | what |
|---|---|---|
| EVENT#{request_id} | EVENT | one usage event, kept for good |
| AGG#CM#{month} | {customer} | customer per month |
| AGG#CD#{month} | {day}#{customer} | customer per day |
| AGG#FM#{month} | {feature}#{model} | feature and model per month |
| AGG#FD#{month} | {day}#{feature}#{model} | feature and model per day (slots) |
| AGG#CFD#{month}#{customer} | {day}#{feature}#{model} | one customer's day x feature x model |
| AGG#LAT#{month} | {day} | ingestion latency histogram per day |
| AGGSHARD#{stream label} | {shard id} | the aggregator's checkpoint: the last record applied |
| EVDAY#{day} (index by_day) | {timestamp}#{request_id} | every event, for repricing |
| UNPRICED#{month} (index unpriced) | {timestamp}#{request_id} | unpriced events only |
| REVDOC#{document} | DOC | a revenue document's state |
| REV#M#{month} | {document} | what it recognises in that month |
| REVUNMAPPED | {stripe customer}#{document} | revenue of unmapped Stripe customers |
| REVPENDING#{invoice document} | {document} | refunds waiting for their invoice |
| REVSTRIPECUST#{stripe customer} | {document} | a Stripe customer's documents |
| STRIPEEVT#{event id} | EVT | Stripe events handled (30 days) |
| CUSTOMERS | {customer} | names, Stripe links |
| STRIPECUST | {stripe customer} | Stripe customer -> customer |
| KEY#{sha256} | KEY | an API key, by its hash |
| KEYS | {key id} | the key listing |
| PRICES | CURRENT, SNAP#{version} | the price table in force, lineage |
| PRICESNAP#{version} | CHUNK#{n} | a price snapshot's parts |
| PRICESYNC | {iso time} | each price refresh run: status, reason |
| PRICEOVR | {model}#{effective_from} | price overrides, custom models |
| MODELALIAS | {alias} | deployment names |
| QUALITY | {model}#{index} | users' quality scores |
| BUDGETS | {budget} | budgets |
| ALERTCLAIM#{budget or ops#kind} | {period}#... | alert claims (storage.claims) |
| ALERTS#{month}, OPSALERTS#{month} | {time}#... | alert history |
| BLOCKLIST | CURRENT | the blocklist's version |
| RECON#{month} | {provider} | the last reconciliation of a provider's bill for the month |
"""

from __future__ import annotations

EVENT = "EVENT#"
AGG_CUSTOMER_MONTH = "AGG#CM#"
AGG_CUSTOMER_DAY = "AGG#CD#"
AGG_FEATURE_MODEL_MONTH = "AGG#FM#"
AGG_FEATURE_MODEL_DAY = "AGG#FD#"
AGG_CUSTOMER_DETAIL = "AGG#CFD#"
AGG_INGEST_LATENCY = "AGG#LAT#"
AGG_CHECKPOINT = "AGGSHARD#"
EVENTS_BY_DAY = "EVDAY#"
UNPRICED = "UNPRICED#"

REVENUE_DOCUMENT = "REVDOC#"
REVENUE_MONTH = "REV#M#"
REVENUE_UNMAPPED = "REVUNMAPPED"
REVENUE_PENDING = "REVPENDING#"
REVENUE_BY_STRIPE_CUSTOMER = "REVSTRIPECUST#"
STRIPE_EVENT = "STRIPEEVT#"
CUSTOMERS = "CUSTOMERS"
STRIPE_CUSTOMERS = "STRIPECUST"

API_KEY = "KEY#"
API_KEYS = "KEYS"

PRICES = "PRICES"
PRICE_SNAPSHOT = "PRICESNAP#"
PRICE_SYNC = "PRICESYNC"
PRICE_OVERRIDES = "PRICEOVR"
MODEL_ALIASES = "MODELALIAS"
QUALITY = "QUALITY"

BUDGETS = "BUDGETS"
ALERT_CLAIM = "ALERTCLAIM#"
BUDGET_ALERTS = "ALERTS#"
OPS_ALERTS = "OPSALERTS#"
BLOCKLIST = "BLOCKLIST"
RECONCILIATION = "RECON#"


def every(prefix: str) -> str:
    """The IAM `dynamodb:LeadingKeys` pattern for every partition of a prefix."""
    return prefix + "*" if prefix.endswith("#") else prefix


# Partitions a function may write (IAM `dynamodb:LeadingKeys` on its Put/Update/Delete).
# Ingest: events, the per-event revenue documents and what they touch, a key's last use; never
# an aggregate (the aggregator owns those).
INGEST_WRITE_PARTITIONS: tuple[str, ...] = (
    every(EVENT),
    every(REVENUE_DOCUMENT),
    every(REVENUE_MONTH),
    REVENUE_UNMAPPED,
    every(REVENUE_PENDING),
    every(REVENUE_BY_STRIPE_CUSTOMER),
    CUSTOMERS,
    API_KEYS,
)
# The budget alerts the aggregator sends: claims (put, released by delete) and the history.
BUDGET_ALERT_PARTITIONS: tuple[str, ...] = (every(ALERT_CLAIM), every(BUDGET_ALERTS))
# The aggregator updates aggregates and its checkpoints, and deletes emptied model items.
AGGREGATE_PARTITIONS: tuple[str, ...] = (
    every(AGG_CUSTOMER_MONTH),
    every(AGG_CUSTOMER_DAY),
    every(AGG_FEATURE_MODEL_MONTH),
    every(AGG_FEATURE_MODEL_DAY),
    every(AGG_CUSTOMER_DETAIL),
    every(AGG_INGEST_LATENCY),
    every(AGG_CHECKPOINT),
)
# Partitions a function may Query although it holds no general Query permission.
# Ingest reads the price book (snapshot chunks, overrides, aliases) and nothing else in bulk.
PRICE_BOOK_PARTITIONS: tuple[str, ...] = (every(PRICE_SNAPSHOT), PRICE_OVERRIDES, MODEL_ALIASES)
# The Stripe webhook lists a Stripe customer's documents and the revenue waiting for a mapping
# (RevenueLedger.remap), and the refunds waiting for their invoice (RevenueLedger._release_pending).
REVENUE_WAITING_PARTITIONS: tuple[str, ...] = (
    REVENUE_UNMAPPED,
    every(REVENUE_PENDING),
    every(REVENUE_BY_STRIPE_CUSTOMER),
)
# The budget evaluation lists budgets, alert claims and the aggregates it sums; operational
# alerts also read customers per feature and day, and last month's P&L (revenue, names).
BUDGET_PARTITIONS: tuple[str, ...] = (
    BUDGETS,
    every(ALERT_CLAIM),
    every(AGG_CUSTOMER_MONTH),
    every(AGG_FEATURE_MODEL_MONTH),
    every(AGG_CUSTOMER_DAY),
    every(AGG_FEATURE_MODEL_DAY),
    every(AGG_CUSTOMER_DETAIL),
    every(REVENUE_MONTH),
    CUSTOMERS,
)
# Reconciliation (the reconcile_costs function) resolves billed models with the price book and lists
# the feature x model per day aggregates it compares the bill with; its results and alert claims
# are read by key (GetItem), so neither is listed.
RECONCILIATION_PARTITIONS: tuple[str, ...] = (*PRICE_BOOK_PARTITIONS, every(AGG_FEATURE_MODEL_DAY))
