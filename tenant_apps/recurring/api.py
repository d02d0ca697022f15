"""Recurring billing API: the runs of one instance, and "run now" for billing roles."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django_tenants.utils import schema_context
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from tenant_apps.accounts.permissions import StaffReadBillersWrite
from tenant_apps.instance import clock
from tenant_apps.instance.audit import request_actor

from . import services
from .models import BillingRun
from .selectors import billing_run_list, get_billing_run_for
from .serializers import BillingRunSerializer

REFUSED = OpenApiResponse(description="Refused: bad input (400) or not allowed in this state (409)")


@extend_schema_view(
    list=extend_schema(summary="Renewal and dunning runs"),
    retrieve=extend_schema(summary="One run with its log"),
)
class BillingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [StaffReadBillersWrite]
    serializer_class = BillingRunSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        return billing_run_list()

    def get_object(self) -> BillingRun:
        try:
            return get_billing_run_for(self.request.user, self.kwargs["pk"])
        except BillingRun.DoesNotExist as exc:
            raise NotFound(_("No such billing run.")) from exc

    @extend_schema(
        summary="Run renewals then dunning for today, now",
        request=None,
        responses={
            201: inline_serializer(
                "BillingRunNow",
                {"renewals": BillingRunSerializer(), "dunning": BillingRunSerializer()},
            ),
            400: REFUSED,
        },
    )
    @action(detail=False, methods=["post"])
    def run(self, request):
        today = clock.today()
        # Enter the instance for each run: an eagerly run Celery task (no broker) leaves the
        # connection on the public schema when it ends (see recurring.views.RunNowView).
        schema = request.tenant.schema_name
        with schema_context(schema):
            renewals = services.renewals_run(
                today=today, triggered_by=request.user.email, actor=request_actor(request)
            )
        with schema_context(schema):
            dunning = services.dunning_run(
                today=today, triggered_by=request.user.email, actor=request_actor(request)
            )
        return Response(
            {
                "renewals": BillingRunSerializer(renewals).data,
                "dunning": BillingRunSerializer(dunning).data,
            },
            status=status.HTTP_201_CREATED,
        )
