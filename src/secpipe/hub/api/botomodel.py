"""botocore's securityhub service model: the contract the hub's answers and routes are
checked against. One small module so that the response shapes (shapes.py), which the route
modules use, and the operations list (operations.py), which reads the route modules, both
reach it without importing each other."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

SERVICE = "securityhub"


@lru_cache(maxsize=1)
def service_model() -> Any:
    """botocore's securityhub model (botocore comes with boto3, a dependency of the hub)."""
    import botocore.session

    return botocore.session.get_session().get_service_model(SERVICE)
