"""The Django project package; importing it loads the Celery app so `@shared_task`s bind to it."""

from esim_status_checker.celery import app as celery_app

__all__ = ("celery_app",)
