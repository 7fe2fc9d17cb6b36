from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from pulse.formatting import iso_utc
from pulse.services.health import health_report

_MODE = inline_serializer(
    "HealthMode",
    {
        "providers": serializers.ChoiceField(["live", "sandbox"]),
        "payments": serializers.ChoiceField(["stripe", "sandbox"]),
    },
)

_EMAILS = inline_serializer(
    "HealthEmails",
    {
        "overdue": serializers.IntegerField(
            allow_null=True, help_text="Customer e-mails failing for over an hour."
        ),
        "failing_since": serializers.DateTimeField(
            allow_null=True, help_text="When the oldest of them first failed."
        ),
    },
)


class HealthApi(APIView):
    """Database, cache and provider state, whether it runs on simulators (mode), customer e-mails
    failing for over an hour and the background side (broker, scheduled jobs); "degraded" in sandbox,
    with such e-mails, an unreachable broker or a late job; 503 when the database is down."""

    @extend_schema(
        responses={
            (200, "application/json"): inline_serializer(
                "Health",
                {
                    "status": serializers.ChoiceField(["healthy", "degraded", "unhealthy"]),
                    "timestamp": serializers.DateTimeField(),
                    "database": serializers.CharField(),
                    "cache": serializers.CharField(),
                    "apis": serializers.DictField(child=serializers.JSONField()),
                    "circuit_breakers": serializers.DictField(child=serializers.CharField()),
                    "mode": _MODE,
                    "emails": _EMAILS,
                    "background": serializers.JSONField(
                        help_text="broker: ok | error | eager; jobs: per scheduled job its state "
                        "(ok | late | never_run), last_success, last_run_ok, interval_seconds"
                    ),
                    "wallets": serializers.JSONField(
                        help_text="per configured provider: sales (open | paused; paused = degraded), "
                        "paused_since, balance_low (below WALLET_WARN_BELOW), balance_read_at, "
                        "balance_read_ok. Amounts are in /metrics and the admin, not here."
                    ),
                },
            ),
            (503, "application/json"): inline_serializer(
                "HealthUnhealthy",
                {
                    "status": serializers.CharField(),
                    "timestamp": serializers.DateTimeField(),
                    "database": serializers.CharField(),
                    "cache": serializers.CharField(),
                    "apis": serializers.DictField(child=serializers.JSONField()),
                    "mode": _MODE,
                    "emails": _EMAILS,
                },
            ),
        }
    )
    def get(self, request):
        report = health_report()
        body = {
            "status": report.status,
            "timestamp": iso_utc(report.timestamp),
            "apis": report.apis,
            "database": report.database,
            "cache": report.cache,
            "circuit_breakers": report.circuit_breakers,
            "mode": report.mode,
            "emails": {**report.emails, "failing_since": iso_utc(report.emails["failing_since"])},
            "background": report.background,
            "wallets": report.wallets,
        }
        return Response(body, status=503 if report.status == "unhealthy" else 200)
