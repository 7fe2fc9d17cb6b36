from django.db import models


class JobRun(models.Model):
    """One run of a scheduled job (reconciler, catalogue sync, e-mail sweep, eSIM index), written by
    `pulse.services.jobs.record_job_run` whether the run came from Celery beat or a management command.

    Health reads the last successful run of each job; the admin lists them. Old rows are pruned.
    """

    job = models.CharField(
        max_length=64, help_text="reconciler, email_sweep, esim_index, catalog_sync:<provider>"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    seconds = models.FloatField(help_text="How long the run took.")
    detail = models.CharField(max_length=500, blank=True, help_text="The run's one-line summary.")
    error = models.TextField(blank=True)
    host = models.CharField(max_length=255, blank=True, help_text="Where it ran (host name and process id).")

    class Meta:
        indexes = [models.Index(fields=["job", "ok", "finished_at"], name="jobrun_job_ok_finished")]
        ordering = ["-finished_at"]

    def __str__(self) -> str:
        return f"{self.job} {'ok' if self.ok else 'failed'} at {self.finished_at:%Y-%m-%d %H:%M:%S}"


class JobLock(models.Model):
    """Which process runs a scheduled job right now, until when: a run finds the job held and skips
    instead of running twice at once. The lease runs out by itself when its holder was killed."""

    job = models.CharField(max_length=64, unique=True)
    holder = models.CharField(max_length=64, blank=True)
    locked_until = models.DateTimeField()

    def __str__(self) -> str:
        return self.job
