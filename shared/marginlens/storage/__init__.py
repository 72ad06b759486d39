"""Storage: the only code that talks to DynamoDB (client, item codecs, key schema, transactions,
claims). Everything above it goes through these modules."""
