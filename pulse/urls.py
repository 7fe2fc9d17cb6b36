from django.urls import path

from pulse.views.health import HealthApi

app_name = "pulse"

urlpatterns = [
    path("health/", HealthApi.as_view(), name="health"),
]
