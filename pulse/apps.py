from django.apps import AppConfig


class PulseConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pulse"
    verbose_name = "eSIM status and renewals"

    def ready(self) -> None:
        # System checks for `manage.py check --deploy` (docs/reliability.md, docs/background.md).
        from pulse import checks, checks_background  # noqa: F401

        # Customer e-mails follow committed order transitions (pulse.services.emails).
        from pulse.services import emails, order_state

        order_state.on_transition(emails.on_order_transition)
