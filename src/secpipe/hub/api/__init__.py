"""The hub's HTTP API: Security Hub's REST-JSON (SigV4-authenticated, so boto3 and the AWS CLI
work with `endpoint_url`) plus secpipe's native /v1 routes, served by uvicorn."""

from secpipe.hub.api.app import Call, create_app, endpoint
from secpipe.hub.api.server import RemoteBindRefused, running_server, serve

__all__ = ["Call", "RemoteBindRefused", "create_app", "endpoint", "running_server", "serve"]
