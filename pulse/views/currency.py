"""Currency endpoints (contract §4): supported currencies, one exchange rate, one conversion.

Answers keep the original's envelope `{"success": true, "data": ...}`. Amounts and rates are strings
(Decimal-exact in JSON); the published frontend displays `formatted_*`. Errors go through the one
exception handler like everywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from pulse.formatting import iso_utc
from pulse.serializers import ErrorSerializer
from pulse.services.currency import Conversion, Rate, convert, exchange_rate
from pulse.services.money import (
    format_money,
    has_excess_precision,
    require_supported,
    round_money,
    supported_currencies,
)
from pulse.views.input_fields import (
    MAX_AMOUNT,
    CurrencyField,
    MoneyAmountField,
    amount_parameter_schema,
    currency_parameter_schema,
)

RATE_SOURCES = ["identity", "live", "cached", "stale", "fallback"]


# --- input -----------------------------------------------------------------------------------------


class RateInputSerializer(serializers.Serializer):
    from_currency = CurrencyField(help_text="Source currency (alias: from)")
    to_currency = CurrencyField(help_text="Target currency (alias: to)")

    def validate(self, attrs: dict) -> dict:
        # Customers may only use sale currencies; `require_supported` raises `unsupported_currency`
        # (naming them), after the field checks so a bad amount is reported first.
        attrs["from_currency"] = require_supported(attrs["from_currency"])
        attrs["to_currency"] = require_supported(attrs["to_currency"])
        return attrs


class ConvertInputSerializer(RateInputSerializer):
    amount = MoneyAmountField(help_text=f'Greater than 0, at most {MAX_AMOUNT}, e.g. 10 or "10.50"')

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        # No digits below the currency's minor unit: 10.001 USD or 10.5 JPY cannot be paid.
        if has_excess_precision(attrs["amount"], attrs["from_currency"]):
            raise serializers.ValidationError(
                {"amount": ["Too many decimal places for this currency."]}, code="max_decimal_places"
            )
        return attrs


def currency_input(data: Any) -> Any:
    """Accept `from`/`to` as aliases of `from_currency`/`to_currency` (query strings and JSON alike)."""
    if not isinstance(data, Mapping):
        return data  # the serializer answers "expected a dictionary"
    result = {key: data[key] for key in ("amount",) if key in data}
    for field, alias in (("from_currency", "from"), ("to_currency", "to")):
        if field in data:
            result[field] = data[field]
        elif alias in data:
            result[field] = data[alias]
    return result


# --- output ----------------------------------------------------------------------------------------


def rate_string(rate: Decimal) -> str:
    """Plain decimal without trailing zeros: "0.92", "1", "149.5" (never exponent notation)."""
    return format(rate.normalize(), "f")


def rate_data(rate: Rate) -> dict[str, Any]:
    return {
        "from_currency": rate.base,
        "to_currency": rate.quote,
        "exchange_rate": rate_string(rate.rate),
        "rate_source": rate.source,
        "rate_age_seconds": rate.age_seconds,
        "fetched_at": iso_utc(rate.fetched_at),
    }


def conversion_data(conversion: Conversion) -> dict[str, Any]:
    original = round_money(conversion.original_amount, conversion.from_currency)  # pads only: validated
    return {
        "original_amount": str(original),
        "converted_amount": str(conversion.converted_amount),
        "from_currency": conversion.from_currency,
        "to_currency": conversion.to_currency,
        "exchange_rate": rate_string(conversion.rate.rate),
        "formatted_original": format_money(original, conversion.from_currency),
        "formatted_converted": format_money(conversion.converted_amount, conversion.to_currency),
        "rate_source": conversion.rate.source,
        "rate_age_seconds": conversion.rate.age_seconds,
    }


class CurrencySerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    symbol = serializers.CharField()
    locale = serializers.CharField()


class SupportedCurrenciesResponse(serializers.Serializer):
    success = serializers.BooleanField()
    data = CurrencySerializer(many=True)


class ExchangeRateSerializer(serializers.Serializer):
    from_currency = serializers.CharField()
    to_currency = serializers.CharField()
    exchange_rate = serializers.CharField(help_text="Decimal string: 1 from_currency = this many to_currency")
    rate_source = serializers.ChoiceField(RATE_SOURCES)
    rate_age_seconds = serializers.IntegerField(allow_null=True)
    fetched_at = serializers.DateTimeField(allow_null=True)


class ExchangeRateResponse(serializers.Serializer):
    success = serializers.BooleanField()
    data = ExchangeRateSerializer()


class ConversionSerializer(serializers.Serializer):
    original_amount = serializers.CharField(help_text='Decimal string, e.g. "10.00"')
    converted_amount = serializers.CharField(help_text="Rounded half up to the currency's minor unit")
    from_currency = serializers.CharField()
    to_currency = serializers.CharField()
    exchange_rate = serializers.CharField()
    formatted_original = serializers.CharField(help_text='e.g. "$10.00"')
    formatted_converted = serializers.CharField(help_text='e.g. "€9.20"')
    rate_source = serializers.ChoiceField(RATE_SOURCES)
    rate_age_seconds = serializers.IntegerField(allow_null=True)


class ConversionResponse(serializers.Serializer):
    success = serializers.BooleanField()
    data = ConversionSerializer()


# Query parameters are plain text; their schemas come from the same rules as the JSON fields.
_PAIR_PARAMETERS = [
    OpenApiParameter(
        "from",
        currency_parameter_schema(),
        required=True,
        description="Source currency (alias: from_currency)",
    ),
    OpenApiParameter(
        "to", currency_parameter_schema(), required=True, description="Target currency (alias: to_currency)"
    ),
]
_AMOUNT_PARAMETER = OpenApiParameter(
    "amount",
    amount_parameter_schema(),
    required=True,
    description=f"Greater than 0, at most {MAX_AMOUNT}, at most the currency's decimals",
)


# --- views -----------------------------------------------------------------------------------------


class CurrencySupportedApi(APIView):
    """The currencies customers can pay in (settings.SUPPORTED_CURRENCIES)."""

    throttle_scope = "currency"

    @extend_schema(responses={200: SupportedCurrenciesResponse, 429: ErrorSerializer})
    def get(self, request):
        data = [
            {"code": info.code, "name": info.name, "symbol": info.symbol, "locale": info.locale}
            for info in supported_currencies()
        ]
        return Response({"success": True, "data": data})


class ExchangeRateApi(APIView):
    """The rate for one pair and where it came from (live, cached, stale with its age, fallback)."""

    throttle_scope = "currency"

    @extend_schema(
        parameters=_PAIR_PARAMETERS,
        responses={200: ExchangeRateResponse, 400: ErrorSerializer, 429: ErrorSerializer},
    )
    def get(self, request):
        data = RateInputSerializer(data=currency_input(request.query_params))
        data.is_valid(raise_exception=True)
        rate = exchange_rate(data.validated_data["from_currency"], data.validated_data["to_currency"])
        return Response({"success": True, "data": rate_data(rate)})


class CurrencyConvertApi(APIView):
    """Convert an amount; GET with a query string, or POST JSON as the published frontend does."""

    throttle_scope = "currency"

    @extend_schema(
        parameters=[_AMOUNT_PARAMETER, *_PAIR_PARAMETERS],
        responses={200: ConversionResponse, 400: ErrorSerializer, 429: ErrorSerializer},
    )
    def get(self, request):
        return self._convert(request.query_params)

    @extend_schema(
        request=ConvertInputSerializer,
        responses={200: ConversionResponse, 400: ErrorSerializer, 429: ErrorSerializer},
        examples=[
            OpenApiExample(
                "Ten dollars in euros",
                value={"amount": 10, "from_currency": "USD", "to_currency": "EUR"},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        return self._convert(request.data)

    def _convert(self, source: Any) -> Response:
        data = ConvertInputSerializer(data=currency_input(source))
        data.is_valid(raise_exception=True)
        values = data.validated_data
        conversion = convert(values["amount"], values["from_currency"], values["to_currency"])
        return Response({"success": True, "data": conversion_data(conversion)})
