"""The single DynamoDB table every function reads and writes."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from marginlens.storage.dynamodb import BY_DAY_INDEX, GSI1PK, GSI1SK, GSI2PK, GSI2SK, UNPRICED_INDEX

TTL_ATTRIBUTE = "expires_at"


class Data(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)

        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=removal_policy,
            # Every change to an event, before and after, for the aggregator (STREAM_SPECIFICATION).
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
        )
        # The same indexes marginlens.storage.dynamodb.create_table makes locally: events by day,
        # and the sparse set of unpriced events, so repricing never scans the table.
        for index_name, partition, sort in ((BY_DAY_INDEX, GSI1PK, GSI1SK), (UNPRICED_INDEX, GSI2PK, GSI2SK)):
            self.table.add_global_secondary_index(
                index_name=index_name,
                partition_key=dynamodb.Attribute(name=partition, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=sort, type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.ALL,
            )
