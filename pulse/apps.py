from django.apps import AppConfig


class PulseConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pulse"
    verbose_name = "eSIM status and renewals"

    def ready(self) -> None:
        # Customer e-mails follow committed order transitions (pulse.services.emails).
        from pulse import checks_background  # noqa: F401 - registers the background system checks
        from pulse.services import emails, order_state

        order_state.on_transition(emails.on_order_transition)
