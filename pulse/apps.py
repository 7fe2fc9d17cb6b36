from django.apps import AppConfig


class PulseConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pulse"
    verbose_name = "eSIM status and renewals"

    def ready(self) -> None:
        # System checks for `manage.py check --deploy` (docs/reliability.md, docs/background.md).
        from pulse import checks, checks_background, metrics  # noqa: F401
        from pulse.services import emails, order_state

        # Customer e-mails follow committed order transitions (pulse.services.emails).
        order_state.on_transition(emails.on_order_transition)
        metrics.install()  # Prometheus counters subscribe to the provider hooks
        from pulse.services import lookup_stats

        lookup_stats.install()  # hourly status-lookup counts for the staff overview
