"""A URLconf used only by the error-contract tests: one view that raises on demand."""

from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from providers import errors as provider_errors
from pulse import exceptions


class _Input(serializers.Serializer):
    name = serializers.CharField(max_length=5)
    count = serializers.IntegerField(min_value=1)


class RaiseApi(APIView):
    def post(self, request, kind):
        if kind == "validation":
            _Input(data=request.data).is_valid(raise_exception=True)
        if kind == "application":
            raise exceptions.PriceChanged("The price is now 12.99 USD.", details="expected 10.00")
        if kind == "unavailable":
            raise exceptions.ProvidersUnavailable(retry_after=17)
        if kind == "provider":
            raise provider_errors.ProviderRejected("airhub", "bad credentials", status_code=401)
        if kind == "crash":
            with transaction.atomic():
                Group.objects.create(name="written-before-crash")
                raise RuntimeError("boom with secret-looking text")
        return Response({"ok": True, "data": request.data})


urlpatterns = [
    path("api/test/raise/<str:kind>/", RaiseApi.as_view()),
    path("", include("esim_status_checker.urls")),
]
