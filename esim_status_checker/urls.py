from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from pulse.admin.overview import overview_view
from pulse.admin.support import esim_support_view, install_code_view
from pulse.views.errors import ApiNotFound
from pulse.views.metrics import metrics_view

urlpatterns = [
    # Staff pages beside the model admin (docs/operations.md, "Overview" and "eSIM support").
    path("admin/overview/", admin.site.admin_view(overview_view), name="staff-overview"),
    path("admin/esim-support/", admin.site.admin_view(esim_support_view), name="staff-esim-support"),
    path(
        "admin/esim-support/install-code/",
        admin.site.admin_view(install_code_view),
        name="staff-install-code",
    ),
    path("admin/", admin.site.urls),
    path("api/esim/", include("pulse.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("metrics", metrics_view, name="metrics"),
    re_path(r"^api/", ApiNotFound.as_view(), name="api-not-found"),
]

handler500 = "pulse.views.errors.server_error"
