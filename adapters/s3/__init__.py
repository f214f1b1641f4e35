"""S3 event adapters: Lambda handler and SQS worker (needs the ``s3`` extra).

An object created under a watched prefix comes out cloaked under a public prefix, exactly once, with
the original kept private and nothing lost when workers crash, S3 hiccups or an event arrives twice.

* :mod:`~stylecloak.adapters.s3.events`: S3 notifications from S3, SQS, SNS and Lambda payloads
* :mod:`~stylecloak.adapters.s3.config`: routes (source → destination), loop-safety checks
* :mod:`~stylecloak.adapters.s3.processor`: one event → one output (idempotent, conditional writes)
* :mod:`~stylecloak.adapters.s3.handler`: one message → outcomes and dead letters
* :mod:`~stylecloak.adapters.s3.worker`: the SQS worker (``stylecloak worker s3``)
* :mod:`~stylecloak.adapters.s3.aws_lambda`: ``lambda_handler(event, context)``

boto3 and prometheus-client are imported only when a worker, handler or processor is built.
"""

from stylecloak.adapters.s3.config import Location, Route, S3Config, WorkerConfig, config_from_env, load_config
from stylecloak.adapters.s3.events import ObjectEvent, parse_message
from stylecloak.errors import MalformedEventError

__all__ = [
    "Location",
    "MalformedEventError",
    "ObjectEvent",
    "Route",
    "S3Config",
    "WorkerConfig",
    "config_from_env",
    "load_config",
    "parse_message",
]
