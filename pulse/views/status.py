from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from pulse.serializers import ErrorSerializer, StatusAnswerSerializer
from pulse.services.status import esim_status_check
from pulse.views.input_fields import DEMO_ICCID, IccidField


class EsimStatusCheckApi(APIView):
    """Unified status of one eSIM across every enabled provider."""

    throttle_scope = "check"

    class EsimStatusCheckInputSerializer(serializers.Serializer):
        # The ICCID rules are checked by the service (one set of rules, one error code).
        iccid = IccidField()

    @extend_schema(
        request=EsimStatusCheckInputSerializer,
        examples=[
            OpenApiExample("The README's Turkey eSIM (expired)", value={"iccid": DEMO_ICCID}),
            OpenApiExample("Typed with spaces", value={"iccid": "8944 0000 0000 0000 100"}),
        ],
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
