"""OpenAPI-driven fuzzing (schemathesis): whatever a client sends to any REST endpoint, within the
schema or not, the API answers without a server error, with a documented status and content
type, and a body that matches its own schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import positive_data_acceptance

from query_api.app import create_app
from query_api.state import ApiState
from schemas.models import Subscription, SubscriptionStatus
from tests.unit.query_api.test_rest import NOW, filled
from tests.unit.query_api.test_rest import settings as config


def _api() -> ApiState:
    api = filled(ApiState(config(), always_ready=True, clock=lambda: NOW))

    async def control(request: Subscription) -> None:  # answers at once, like a producer
        api.model.subscriptions[f"{request.exchange}:{request.symbol}"] = Subscription(
            exchange=request.exchange,
            symbol=request.symbol,
            channels=request.channels,
            action=request.action,
            ts=request.ts + 1,
            status=SubscriptionStatus.ACTIVE,
        )

    api.control = control
    return api


app = create_app(_api())
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail(case: Case) -> None:
    # Every check but one: a symbol is a string in the schema and more than that to us
    # ("0" is schema-valid and rightly a 400 with the reason).
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
