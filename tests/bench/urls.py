"""URL map for the routing benchmark: the instance URLs plus one small signed-in page."""

from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.urls import path

from config.urls_tenant import urlpatterns as instance_urlpatterns


def bench_page(request):
    # Session + user (two queries via the auth middleware) and one query of its own.
    if not request.user.is_authenticated:
        return HttpResponse("anonymous", status=403)
    staff = get_user_model().objects.filter(role="owner").count()
    return HttpResponse(f"{request.user.email} {staff}")


urlpatterns = [path("bench/", bench_page), *instance_urlpatterns]
