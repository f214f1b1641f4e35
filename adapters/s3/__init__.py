"""S3 event adapters: Lambda handler and SQS worker (needs the ``s3`` extra)."""
