"""The webhook retry schedule (resolvers/webhooks/delivery.next_delay, DPOR_WEBHOOK_RETRY_SCHEDULE_SECONDS): backoff
over hours by default, +/-20% jitter on every delay, the dead letter after the last; and the SSRF setting that
lifts the address checks refused in production. The delivery tests (test_webhook_delivery.py) run short schedules."""

from __future__ import annotations

import pytest

from gateway.settings import SettingsError, load_settings
from resolvers.webhooks.delivery import DEFAULT_RETRY_SCHEDULE, JITTER, next_delay
from tests.hardening_support import settings_for

SAMPLES = 400


def test_the_default_schedule_backs_off_over_hours_then_dead_letters() -> None:
    schedule = load_settings(database_url="sqlite+aiosqlite:///:memory:").webhook_retry_schedule_seconds
    assert schedule == DEFAULT_RETRY_SCHEDULE
    assert list(schedule) == sorted(schedule) and schedule[0] < 60 and schedule[-1] >= 3_600
    assert 24 * 3_600 < sum(schedule) < 30 * 3_600  # about 27.6 hours from the first failure to the dead letter
    assert next_delay(len(schedule) + 1, schedule) is None  # the last attempt failed: DEAD


@pytest.mark.parametrize("attempts", range(1, len(DEFAULT_RETRY_SCHEDULE) + 1))
def test_every_delay_is_jittered_within_20_percent(attempts: int) -> None:
    base = DEFAULT_RETRY_SCHEDULE[attempts - 1]
    delays = [next_delay(attempts, DEFAULT_RETRY_SCHEDULE) for _ in range(SAMPLES)]
    assert all(delay is not None and base * (1 - JITTER) <= delay <= base * (1 + JITTER) for delay in delays)
    # Spread, not a constant: receivers coming back are not hit by every endpoint's retry in the same second.
    assert min(d for d in delays if d is not None) < base * 0.9 and max(d for d in delays if d is not None) > base * 1.1


def test_production_refuses_to_lift_the_address_checks() -> None:
    with pytest.raises(SettingsError, match="DPOR_WEBHOOK_ALLOW_PRIVATE_ADDRESSES"):
        settings_for(env="production", webhook_allow_private_addresses=True)
    assert settings_for(env="production").webhook_allow_private_addresses is False
