"""Scheduled job runs in the admin (docs/background.md): what ran, when, where, how long, and why
a run failed. Written by `pulse.services.jobs.record_job_run` only, so read-only here."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from pulse.admin.catalog import ReadOnlyAdmin
from pulse.models import JobRun


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ("job", "outcome", "finished_at", "duration", "detail", "host")
    list_filter = ("job", "ok")
    search_fields = ("job", "detail", "error")
    date_hierarchy = "finished_at"
    fields = ("job", "ok", "started_at", "finished_at", "seconds", "detail", "host", "error_text")
    readonly_fields = fields

    @admin.display(description="outcome", ordering="ok")
    def outcome(self, run: JobRun) -> str:
        return "ok" if run.ok else "FAILED"

    @admin.display(description="seconds", ordering="seconds")
    def duration(self, run: JobRun) -> str:
        return f"{run.seconds:.2f}"

    @admin.display(description="error")
    def error_text(self, run: JobRun) -> str:
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", run.error) if run.error else "-"
