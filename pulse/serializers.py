"""Response shapes for the OpenAPI schema (the views build plain dicts; these document them)."""

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    code = serializers.CharField()
    details = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class UsageSerializer(serializers.Serializer):
    capacity_bytes = serializers.IntegerField(allow_null=True)
    consumed_bytes = serializers.IntegerField(allow_null=True)
    remaining_bytes = serializers.IntegerField(allow_null=True)
    unlimited = serializers.BooleanField()


class BundleSerializer(UsageSerializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    status_code = serializers.CharField()
    status = serializers.CharField()
    raw_state = serializers.CharField(allow_blank=True)
    assigned_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    duration_days = serializers.IntegerField(allow_null=True)


STATUS_CODES = ["pending", "not_active", "active", "depleted", "expired", "revoked", "unknown"]


class SourceDetailSerializer(serializers.Serializer):
    outcome = serializers.CharField(help_text="The same value as in `sources`")
    as_of = serializers.DateTimeField(
        allow_null=True, help_text="When the provider data behind the outcome was read; null when none"
    )
    age_seconds = serializers.IntegerField(allow_null=True, help_text="Age of that data when answering")


class StatusAnswerSerializer(serializers.Serializer):
    iccid = serializers.CharField()
    status = serializers.CharField(
        help_text="Pending, Not Active, Active, Depleted, Expired, Revoked or Unknown"
    )
    plan_name = serializers.CharField()
    api_provider = serializers.ChoiceField(["AIRHUB", "ESIMCARD", "TRAVELROAM"])
    order_sim_id = serializers.CharField()
    data_capacity = serializers.CharField(help_text='Decimal GB, e.g. "1.00 GB", or "Unlimited" / "N/A"')
    data_consumed = serializers.CharField()
    data_remaining = serializers.CharField()
    validity = serializers.CharField(help_text='e.g. "7 days"')
    purchase_date = serializers.CharField(help_text="YYYY-MM-DD HH:MM:SS (UTC) or N/A")
    activation_code = serializers.CharField(help_text="SM-DP+ address only; never the secret matching id")
    apn = serializers.CharField()
    last_updated = serializers.DateTimeField()
    status_code = serializers.ChoiceField(STATUS_CODES)
    profile_status = serializers.CharField(allow_null=True)
    usage = UsageSerializer()
    bundles = BundleSerializer(many=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    country_code = serializers.CharField(allow_null=True)
    sources = serializers.DictField(
        child=serializers.CharField(), help_text='"found", "not_found", "error:<code>" or "not_configured"'
    )
    source_details = serializers.DictField(
        child=SourceDetailSerializer(),
        help_text="Per provider: its `sources` value and how old the data behind it is (docs/status.md)",
    )
    cached = serializers.BooleanField()
