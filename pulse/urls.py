from django.urls import path

from pulse.views.health import HealthApi
from pulse.views.status import EsimStatusCheckApi

app_name = "pulse"

urlpatterns = [
    path("check/", EsimStatusCheckApi.as_view(), name="check"),
    path("health/", HealthApi.as_view(), name="health"),
]
