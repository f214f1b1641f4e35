"""Framework adapters: Django, Flask, ASGI apps and S3 events. Each imports its framework lazily."""
