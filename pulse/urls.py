from django.urls import path

from pulse.views.alerts import AlertConfirmApi, AlertSubscribeApi, AlertUnsubscribeApi
from pulse.views.currency import CurrencyConvertApi, CurrencySupportedApi, ExchangeRateApi
from pulse.views.health import HealthApi
from pulse.views.renewal import (
    PaymentWebhookApi,
    RenewalConfirmApi,
    RenewalCreateApi,
    RenewalOptionsApi,
    RenewalOrderDetailApi,
)
from pulse.views.sandbox_checkout import SandboxCheckoutView
from pulse.views.status import EsimStatusCheckApi

app_name = "pulse"

urlpatterns = [
    path("check/", EsimStatusCheckApi.as_view(), name="check"),
    path("health/", HealthApi.as_view(), name="health"),
    path("renewal/options/", RenewalOptionsApi.as_view(), name="renewal-options"),
    path("renewal/create/", RenewalCreateApi.as_view(), name="renewal-create"),
    path("renewal/confirm-payment/", RenewalConfirmApi.as_view(), name="renewal-confirm"),
    path("renewal/order/<slug:order_id>/", RenewalOrderDetailApi.as_view(), name="renewal-order"),
    path("alerts/", AlertSubscribeApi.as_view(), name="alert-subscribe"),
    path("alerts/confirm/<str:token>/", AlertConfirmApi.as_view(), name="alert-confirm"),
    path("alerts/unsubscribe/<str:token>/", AlertUnsubscribeApi.as_view(), name="alert-unsubscribe"),
    path("stripe/webhook/", PaymentWebhookApi.as_view(), name="payment-webhook"),
    path("sandbox/checkout/<slug:session_id>/", SandboxCheckoutView.as_view(), name="sandbox-checkout"),
    path("currency/supported/", CurrencySupportedApi.as_view(), name="currency-supported"),
    path("currency/exchange-rate/", ExchangeRateApi.as_view(), name="currency-exchange-rate"),
    path("currency/convert/", CurrencyConvertApi.as_view(), name="currency-convert"),
]
