from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from pulse.formatting import iso_utc
from pulse.services.health import health_report


class HealthApi(APIView):
    """Database, cache, provider state and background work; 503 when the database is down."""

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
                    "background": serializers.JSONField(
                        help_text="broker: ok | error | eager; jobs: per scheduled job its state "
                        "(ok | late | never_run), last_success, last_run_ok, interval_seconds"
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
            "background": report.background,
        }
        return Response(body, status=503 if report.status == "unhealthy" else 200)
