"""System checks for background work (pulse/checks_background.py)."""

from __future__ import annotations

from django.core.checks import run_checks

from pulse import checks_background


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_production_on_the_file_system_broker_is_warned_about_in_check_deploy(settings):
    settings.DEBUG = False
    settings.CELERY_BROKER_URL = "filesystem://"

    assert ids(checks_background.check_broker_for_production()) == ["background.W001"]
    assert "background.W001" in ids(run_checks(include_deployment_checks=True, tags=["background"]))
    assert "background.W001" not in ids(run_checks(tags=["background"]))  # deploy only


def test_production_with_a_real_broker_or_development_passes(settings):
    settings.DEBUG = False
    settings.CELERY_BROKER_URL = "redis://cache.example.com:6379/0"
    assert checks_background.check_broker_for_production() == []
    settings.DEBUG = True
    settings.CELERY_BROKER_URL = "filesystem://"
    assert checks_background.check_broker_for_production() == []


def test_a_top_up_time_limit_not_below_the_lease_is_an_error(settings):
    settings.FULFILMENT_LEASE_SECONDS = 300
    settings.CELERY_FULFIL_TIME_LIMIT = 300
    assert ids(checks_background.check_time_limits()) == ["background.E001"]
    settings.CELERY_FULFIL_TIME_LIMIT = 120
    assert checks_background.check_time_limits() == []


def test_a_task_limit_beyond_the_redis_visibility_timeout_is_an_error(settings):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    settings.CELERY_TASK_TIME_LIMIT = 4000
    assert ids(checks_background.check_time_limits()) == ["background.E002"]
    settings.CELERY_TASK_TIME_LIMIT = 900
    assert checks_background.check_time_limits() == []


def test_confirm_that_stops_waiting_before_it_would_fulfil_is_warned_about(settings):
    settings.CONFIRM_WAIT_SECONDS = 1
    settings.CONFIRM_FULFIL_AFTER_SECONDS = 2
    assert ids(checks_background.check_confirm_wait()) == ["background.W002"]
    settings.CONFIRM_FULFIL_AFTER_SECONDS = 1
    assert checks_background.check_confirm_wait() == []
