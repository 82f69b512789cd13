"""The only code that speaks to AWS (DynamoDB, S3, SQS, SES, Secrets Manager) or reads the environment: each adapter turns AWS's shapes and error codes into the domain's records and errors."""
