"""The account and region of an API request, and Security Hub's "not subscribed" answer.

A request's partition is the hub's own account (its configuration) and the region of the
request's SigV4 credential scope; a bearer-token or unauthenticated call uses the store's
region. Every Security Hub operation of botocore's model except EnableSecurityHub answers
InvalidAccessException (401, "Account ... is not subscribed to AWS Security Hub") in a
partition where Security Hub is not enabled, as AWS does; native /v1 routes are secpipe's own
and are not held to it. Answers are cached per process (`secpipe.hub.subscription`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from starlette.requests import Request

from secpipe.hub import subscription
from secpipe.hub.api import isolation
from secpipe.hub.api.botomodel import service_model
from secpipe.hub.authz import Principal
from secpipe.hub.interface import Partition

UNGATED = frozenset({"EnableSecurityHub"})


@lru_cache(maxsize=1)
def gated_operations() -> frozenset[str]:
    """The Security Hub operations that need an enabled partition."""
    return frozenset(service_model().operation_names) - UNGATED


def partition_for(store: Any, caller: Principal) -> Partition:
    """The store's account; the caller's SigV4 region, else the store's region."""
    account = getattr(store, "account_id", Partition.account)
    return Partition(account, caller.region or getattr(store, "region", Partition.region))


def cache(request: Request) -> subscription.Subscriptions:
    state = request.app.state
    found = getattr(state, "subscriptions", None)
    if found is None:
        found = state.subscriptions = subscription.Subscriptions()
    return found


async def admit(request: Request, caller: Principal, operation: str | None) -> Partition:
    """Set `request.state.partition`; InvalidAccess for a Security Hub operation in a
    partition where the hub is not enabled."""
    store = request.app.state.store
    partition = partition_for(store, caller)
    request.state.partition = partition
    lookup = getattr(store, "is_subscribed", None)
    if operation in gated_operations() and callable(lookup):
        known = cache(request).cached(partition)
        if known is None:
            known = await isolation.run_for(request, lookup, partition)
            cache(request).remember(partition, known)
        if not known:
            raise subscription.not_subscribed(partition)
    return partition


def changed(request: Request, partition: Partition) -> None:
    """Enable/DisableSecurityHub changed `partition`: ask the store next time."""
    cache(request).forget(partition)
