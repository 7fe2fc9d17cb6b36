"""The Celery app's configuration comes from settings (docs/background.md §7)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from esim_status_checker.celery import _create_local_folders, app
from esim_status_checker.tests.fresh_process import shell_output
from pulse import tasks

ROOT = Path(__file__).resolve().parents[2]


def broker_settings(**env: str) -> dict:
    """CELERY_BROKER_URL and the transport options a fresh process derives from `env`."""
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps([settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS]))"
    )
    out = shell_output(code, **env)
    url, options = json.loads(out.strip().splitlines()[-1])
    return {"url": url, "options": options}


def test_without_any_broker_setting_the_file_system_transport_is_used(tmp_path):
    got = broker_settings(CELERY_FILESYSTEM_DIR=str(tmp_path))
    assert got["url"] == "filesystem://"
    assert got["options"]["data_folder_in"] == got["options"]["data_folder_out"] == str(tmp_path / "queue")


def test_redis_url_is_the_default_broker_with_bounded_timeouts():
    got = broker_settings(REDIS_URL="redis://cache.example.com:6379/2")
    assert got["url"] == "redis://cache.example.com:6379/2"
    assert got["options"]["socket_connect_timeout"] == 1.0
    assert got["options"]["visibility_timeout"] == 3600


def test_an_explicit_rabbitmq_broker_wins_over_redis_url():
    got = broker_settings(
        REDIS_URL="redis://cache.example.com:6379/2",
        CELERY_BROKER_URL="amqp://user:fake@mq.example.com:5672/esim",
    )
    assert got["url"] == "amqp://user:fake@mq.example.com:5672/esim"
    assert got["options"] == {"confirm_publish": True}


def test_top_ups_have_their_own_queue_and_every_task_is_acknowledged_late(settings):
    router = app.amqp.router
    assert router.route({}, "pulse.tasks.fulfil_order")["queue"].name == settings.CELERY_FULFILMENT_QUEUE
    assert router.route({}, "pulse.tasks.reconcile")["queue"].name == settings.CELERY_TASK_DEFAULT_QUEUE
    queues = {queue.name: queue.routing_key for queue in app.conf.task_queues}
    assert queues == {"esim.jobs": "esim.jobs", "esim.fulfilment": "esim.fulfilment"}
    assert (app.conf.task_acks_late, app.conf.task_reject_on_worker_lost) == (True, True)
    assert app.conf.worker_prefetch_multiplier == 1
    assert tasks.fulfil_order.time_limit == settings.CELERY_FULFIL_TIME_LIMIT


@pytest.mark.parametrize("broker", ["filesystem://", "redis://127.0.0.1:6379/0"])
def test_the_folders_the_broker_and_beat_write_to_are_created(tmp_path, broker):
    conf = SimpleNamespace(
        broker_url=broker,
        beat_schedule_filename=str(tmp_path / "beat" / "schedule"),
        broker_transport_options={
            "data_folder_in": str(tmp_path / "queue"),
            "data_folder_out": str(tmp_path / "queue"),
            "control_folder": str(tmp_path / "control"),
        },
    )

    _create_local_folders(SimpleNamespace(conf=conf))

    assert (tmp_path / "beat").is_dir()
    assert (tmp_path / "queue").is_dir() is broker.startswith("filesystem")
    assert (tmp_path / "control").is_dir() is broker.startswith("filesystem")
