"""Data access: the only package that imports boto3/botocore (DynamoDB, S3, SQS, SNS, SSM, Secrets Manager, Comprehend).

Repositories expose intent-level methods (`store`, `claim_notification`, `move_delivery` ...)
and keep every key layout and condition expression to themselves. Each takes the `AwsClients`
the composition root passes in. May import models, errors and clock; never a capability.
"""
