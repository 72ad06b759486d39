"""Local development helpers: the loopback DynamoDB engine."""
