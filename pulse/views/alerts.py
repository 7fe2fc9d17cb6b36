"""Usage alerts over HTTP: subscribe, and the confirm / unsubscribe pages (docs/alerts.md)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer, TemplateHTMLRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from providers.iccid import mask_iccid
from pulse.models.alerts import SEVERITY
from pulse.serializers import ErrorSerializer
from pulse.services.alerts import (
    LinkOutcome,
    alert_confirm,
    alert_subscribe,
    alert_unsubscribe,
)
from pulse.throttles import AlertEmailThrottle, ScopedIpThrottle
from pulse.views.input_fields import DEMO_ICCID, IccidField, StrictEmailField

ACCEPTED = {
    "status": "accepted",
    "message": (
        "If this eSIM can be watched, a confirmation e-mail is on its way to the address given. "
        "Alerts start once the link in it is opened."
    ),
}


class AlertAcceptedSerializer(serializers.Serializer):
    status = serializers.CharField()
    message = serializers.CharField()


class AlertLinkSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["confirmed", "already_confirmed", "unsubscribed", "already_unsubscribed"]
    )
    message = serializers.CharField()
    iccid = serializers.CharField(help_text="The eSIM, masked")


class AlertSubscribeApi(APIView):
    """Subscribe an e-mail address to usage and expiry alerts of one eSIM (double opt-in)."""

    throttle_scope = "alerts"
    throttle_classes = [ScopedIpThrottle, AlertEmailThrottle]

    class AlertSubscribeInputSerializer(serializers.Serializer):
        iccid = IccidField()
        email = StrictEmailField()
        thresholds = serializers.ListField(
            child=serializers.ChoiceField(choices=[code.value for code in SEVERITY]),
            required=False,
            allow_empty=False,
            min_length=1,  # published as minItems (allow_empty alone is not in the schema)
            max_length=len(SEVERITY),
            help_text="Which alerts (default: all).",
        )

    @extend_schema(
        request=AlertSubscribeInputSerializer,
        examples=[
            OpenApiExample(
                "Every alert",
                value={"iccid": DEMO_ICCID, "email": "traveller@example.com"},
                request_only=True,
            ),
            OpenApiExample(
                "Only when the data is used up",
                value={"iccid": DEMO_ICCID, "email": "traveller@example.com", "thresholds": ["data_100"]},
                request_only=True,
            ),
        ],
        responses={
            202: OpenApiResponse(
                AlertAcceptedSerializer,
                description="Always the same answer, whether or not the eSIM exists or is subscribed.",
            ),
            400: ErrorSerializer,
            429: ErrorSerializer,
        },
    )
    def post(self, request):
        data = self.AlertSubscribeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert_subscribe(
            iccid=data.validated_data.get("iccid", ""),
            email=data.validated_data["email"],
            thresholds=data.validated_data.get("thresholds"),
        )
        return Response(ACCEPTED, status=202)


class AlertPageRenderer(TemplateHTMLRenderer):
    """The small HTML page a person sees after clicking a link in an e-mail (the default)."""

    template_name = "pulse/alert_page.html"
    charset = "utf-8"

    def get_template_context(self, data, renderer_context):
        return {"answer": data if isinstance(data, dict) else {}}

    def get_exception_template(self, response):
        return self.resolve_template([self.template_name])


TOKEN_PARAMETER = OpenApiParameter(
    "token",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The signed token from the e-mail's link (django.core.signing; unguessable).",
    pattern=r"^[A-Za-z0-9_:.-]{1,1000}$",
    examples=[
        OpenApiExample(
            "A link from an e-mail (this one is not signed by your server)",
            value=".eJyrVipWsjLUUcpTslIyNDA0MjIwMDA1VKoFAEyfBWY:1vRgNa:Zm9yZ2VkLXNpZ25hdHVyZS1leGFtcGxl",
        )
    ],
)
NO_FORMAT = OpenApiParameter("format", exclude=True)  # the Accept header chooses HTML or JSON
_PAGE_RESPONSES = {
    (200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="A small page for a person"),
    (200, "application/json"): AlertLinkSerializer,
    (404, "text/html"): OpenApiTypes.STR,
    (404, "application/json"): ErrorSerializer,
    (429, "text/html"): OpenApiTypes.STR,
    (429, "application/json"): ErrorSerializer,
}


class _AlertLinkApi(APIView):
    renderer_classes = [AlertPageRenderer, JSONRenderer]
    throttle_scope = "alert_links"

    def answer(self, action, token: str, done: str, already: str, message: str) -> Response:
        # An invalid or expired link raises ApplicationError: the project's exception handler answers
        # it (the same error body), and AlertPageRenderer renders it as the page for a person.
        outcome: LinkOutcome = action(token=token)
        body = {
            "status": done if outcome.changed else already,
            "message": message,
            "iccid": mask_iccid(outcome.subscription.iccid),
        }
        return Response(body)


class AlertConfirmApi(_AlertLinkApi):
    """The link of the confirmation e-mail (valid 48 hours): alerts start."""

    @extend_schema(
        parameters=[TOKEN_PARAMETER, NO_FORMAT],
        responses={
            **_PAGE_RESPONSES,
            (410, "text/html"): OpenApiTypes.STR,
            (410, "application/json"): ErrorSerializer,
        },
    )
    def get(self, request, token: str):
        return self.answer(
            alert_confirm,
            token,
            "confirmed",
            "already_confirmed",
            "Your alerts are on. We will e-mail you before this eSIM runs out of data or time.",
        )


class AlertUnsubscribeApi(_AlertLinkApi):
    """The unsubscribe link of every alert e-mail (never expires): alerts stop, the address is deleted.
    POST is the one-click unsubscribe of mail programs (RFC 8058, `List-Unsubscribe-Post`)."""

    parser_classes: list = []  # the one-click POST body (List-Unsubscribe=One-Click) is not read

    @extend_schema(parameters=[TOKEN_PARAMETER, NO_FORMAT], responses=_PAGE_RESPONSES)
    def get(self, request, token: str):
        return self._unsubscribe(token)

    @extend_schema(parameters=[TOKEN_PARAMETER, NO_FORMAT], request=None, responses=_PAGE_RESPONSES)
    def post(self, request, token: str):
        return self._unsubscribe(token)

    def _unsubscribe(self, token: str) -> Response:
        return self.answer(
            alert_unsubscribe,
            token,
            "unsubscribed",
            "already_unsubscribed",
            "You will get no more alerts about this eSIM, and we have deleted your e-mail address.",
        )
