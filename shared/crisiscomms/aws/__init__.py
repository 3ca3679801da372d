"""Data access: the only package that talks to AWS services (DynamoDB, SSM, Secrets Manager, Comprehend)."""
