from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from pulse.serializers import ErrorSerializer, StatusAnswerSerializer
from pulse.services.status import esim_status_check


class EsimStatusCheckApi(APIView):
    """Unified status of one eSIM across every enabled provider."""

    throttle_scope = "check"

    class EsimStatusCheckInputSerializer(serializers.Serializer):
        # Validated by the service (one set of ICCID rules, one error code).
        iccid = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=64)

    @extend_schema(
        request=EsimStatusCheckInputSerializer,
        responses={
            200: StatusAnswerSerializer,
            400: ErrorSerializer,
            404: ErrorSerializer,
            429: ErrorSerializer,
            503: OpenApiResponse(ErrorSerializer, description="No provider could answer; see Retry-After."),
        },
    )
    def post(self, request):
        data = self.EsimStatusCheckInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = esim_status_check(iccid=data.validated_data.get("iccid", ""))
        return Response(result.answer())
