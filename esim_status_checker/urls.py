from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from pulse.views.errors import ApiNotFound
from pulse.views.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/esim/", include("pulse.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("metrics", metrics_view, name="metrics"),
    re_path(r"^api/", ApiNotFound.as_view(), name="api-not-found"),
]

handler500 = "pulse.views.errors.server_error"
