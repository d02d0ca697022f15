"""Orders and services API of the serving instance.

Staff of the instance read; the owner, administrators and billing staff write (support gets
403 on writes). Every write calls `services`; their domain errors become 4xx JSON through
`config.errors.api_exception_handler` (409 for an illegal service transition or quota).

Each write builds its response inside the same transaction: issuing an invoice schedules
tasks on commit, and when tasks run eagerly (no broker in dev) the tenant task wrapper
leaves the connection in the public schema, so a read after the commit could look in the
wrong instance.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from tenant_apps.accounts.permissions import IsInstanceStaff
from tenant_apps.instance.audit import request_actor

from . import services
from .models import Order, Service
from .selectors import (
    get_order_for,
    get_service_for,
    order_list,
    service_list,
    user_can_manage_orders,
)
from .serializers import (
    AddonAddedSerializer,
    AddonAddSerializer,
    ChangePlanResultSerializer,
    ChangePlanSerializer,
    OrderAcceptSerializer,
    OrderCreateSerializer,
    OrderSerializer,
    ReasonSerializer,
    ServiceCancelSerializer,
    ServiceSerializer,
)


class CanManageOrders(BasePermission):
    """Writes to orders and services: owner, administrators and billing staff."""

    message = gettext_lazy(
        "Only the owner, administrators and billing staff can change orders and services."
    )

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or user_can_manage_orders(request.user)


class OrderFilterSerializer(serializers.Serializer):
    """Query parameters of the order list: a value that is not one is a 400, not ignored."""

    status = serializers.ChoiceField(choices=Order.Status.choices, required=False)
    source = serializers.ChoiceField(choices=Order.Source.choices, required=False)
    customer = serializers.IntegerField(required=False, help_text=gettext_lazy("Customer id"))
    referer = serializers.IntegerField(required=False, help_text=gettext_lazy("Referer id"))
    q = serializers.CharField(
        required=False, max_length=200, help_text=gettext_lazy("Customer, product, label or #id")
    )


class ServiceFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Service.Status.choices, required=False)
    customer = serializers.IntegerField(required=False, help_text=gettext_lazy("Customer id"))
    product = serializers.IntegerField(required=False, help_text=gettext_lazy("Product id"))
    q = serializers.CharField(
        required=False, max_length=200, help_text=gettext_lazy("Label, product or customer")
    )


def _filters(serializer_class, request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


@extend_schema_view(
    list=extend_schema(summary="Orders of this instance", parameters=[OrderFilterSerializer]),
    retrieve=extend_schema(summary="One order, with its items and invoices"),
)
class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsInstanceStaff, CanManageOrders]
    serializer_class = OrderSerializer

    def get_queryset(self):
        if self.action != "list":
            return order_list()
        filters = _filters(OrderFilterSerializer, self.request)
        return order_list(
            status=filters.get("status"),
            source=filters.get("source"),
            customer_id=filters.get("customer"),
            referer_id=filters.get("referer"),
            search=filters.get("q"),
        )

    def get_object(self) -> Order:
        try:
            return get_order_for(self.request.user, self.kwargs["pk"])
        except (Order.DoesNotExist, ValueError) as exc:
            raise NotFound(_("No such order.")) from exc

    def get_serializer_context(self):
        # Invoices are listed for one order at a time (a list would query once per row).
        return {**super().get_serializer_context(), "with_invoices": self.action != "list"}

    def _detail(self, order: Order, status_code=status.HTTP_200_OK) -> Response:
        """The response, serialised before the write commits (see the module docstring)."""
        fresh = get_order_for(self.request.user, order.pk)
        return Response(self.get_serializer(fresh).data, status=status_code)

    @extend_schema(
        summary="Place an order and accept it (invoice issued; services started if activate)",
        request=OrderCreateSerializer,
        responses={201: OrderSerializer},
    )
    def create(self, request):
        payload = OrderCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        referer = data["referer_code"]
        items = [
            {
                "product": item["product"],
                "cycle": item["cycle"],
                "quantity": item["quantity"],
                "label": item["label"],
                "addons": item["addons"],
            }
            for item in data["items"]
        ]
        # Placing and accepting are one step here: a refusal (quota…) leaves nothing behind.
        with transaction.atomic():
            order = services.order_place(
                customer=data["customer"],
                items=items,
                source=Order.Source.API,
                referer=referer,
                referer_source=data["referer_source"] if referer else "",
                created_by=request.user,
                notes=data["notes"],
                actor=request_actor(request),
            )
            services.order_accept(
                order=order, activate=data["activate"], actor=request_actor(request)
            )
            return self._detail(order, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Accept a pending order", request=OrderAcceptSerializer, responses=OrderSerializer
    )
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        payload = OrderAcceptSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        with transaction.atomic():
            order = self.get_object()
            services.order_accept(
                order=order,
                activate=payload.validated_data["activate"],
                actor=request_actor(request),
            )
            return self._detail(order)

    @extend_schema(
        summary="Cancel an order: a pending one, or an accepted one nobody paid for (its "
        "services stop and its invoices are credited in full)",
        request=None,
        responses=OrderSerializer,
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        with transaction.atomic():
            order = self.get_object()
            services.order_cancel(order=order, actor=request_actor(request))
            return self._detail(order)


@extend_schema_view(
    list=extend_schema(summary="Services of this instance", parameters=[ServiceFilterSerializer]),
    retrieve=extend_schema(summary="One service"),
)
class ServiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsInstanceStaff, CanManageOrders]
    serializer_class = ServiceSerializer

    def get_queryset(self):
        filters = _filters(ServiceFilterSerializer, self.request) if self.action == "list" else {}
        return service_list(
            status=filters.get("status"),
            customer_id=filters.get("customer"),
            product_id=filters.get("product"),
            search=filters.get("q"),
        ).select_related("order_item")

    def get_object(self) -> Service:
        try:
            return get_service_for(self.request.user, self.kwargs["pk"])
        except (Service.DoesNotExist, ValueError) as exc:
            raise NotFound(_("No such service.")) from exc

    def _detail(self, service: Service) -> Response:
        """The response, serialised before the write commits (see the module docstring)."""
        return Response(ServiceSerializer(get_service_for(self.request.user, service.pk)).data)

    def _reason(self, request) -> str:
        payload = ReasonSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return payload.validated_data["reason"]

    @extend_schema(summary="Suspend an active service", request=ReasonSerializer)
    @action(detail=True, methods=["post"])
    def suspend(self, request, pk=None):
        reason = self._reason(request)
        with transaction.atomic():
            service = self.get_object()
            return self._detail(
                services.service_suspend(
                    service=service, reason=reason, actor=request_actor(request)
                )
            )

    @extend_schema(summary="Lift a suspension", request=None)
    @action(detail=True, methods=["post"])
    def unsuspend(self, request, pk=None):
        with transaction.atomic():
            return self._detail(
                services.service_unsuspend(service=self.get_object(), actor=request_actor(request))
            )

    @extend_schema(summary="Terminate a service (capacity released)", request=ReasonSerializer)
    @action(detail=True, methods=["post"])
    def terminate(self, request, pk=None):
        reason = self._reason(request)
        with transaction.atomic():
            service = self.get_object()
            return self._detail(
                services.service_terminate(
                    service=service, reason=reason, actor=request_actor(request)
                )
            )

    @extend_schema(
        summary="Cancel now, or at the end of the paid term", request=ServiceCancelSerializer
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        payload = ServiceCancelSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        with transaction.atomic():
            updated = services.service_cancel(
                service=self.get_object(),
                immediately=payload.validated_data["immediately"],
                reason=payload.validated_data["reason"],
                actor=request_actor(request),
            )
            return self._detail(updated)

    @extend_schema(
        summary="Move to another plan, prorated for the rest of the period",
        request=ChangePlanSerializer,
        responses=ChangePlanResultSerializer,
    )
    @action(detail=True, methods=["post"], url_path="change-plan")
    def change_plan(self, request, pk=None):
        payload = ChangePlanSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        with transaction.atomic():
            service = self.get_object()
            document = services.service_change_plan(
                service=service,
                product=payload.validated_data["product"],
                actor=request_actor(request),
            )
            result = ChangePlanResultSerializer(
                {"service": get_service_for(request.user, service.pk), "document": document}
            )
            return Response(result.data)

    @extend_schema(
        summary="Add an add-on to an active service: invoiced now, prorated to the service's "
        "next due date, started when paid (at once when there is nothing to pay)",
        request=AddonAddSerializer,
        responses={201: AddonAddedSerializer},
    )
    @action(detail=True, methods=["post"], url_path="addons")
    def add_addon(self, request, pk=None):
        service = self.get_object()  # 404 before anything is read from the body
        payload = AddonAddSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        with transaction.atomic():
            result = services.service_addon_add(
                service=service,
                addon=payload.validated_data["addon"],
                source=Order.Source.API,
                created_by=request.user,
                actor=request_actor(request),
            )
            body = AddonAddedSerializer(
                {
                    "service": get_service_for(request.user, result.service.pk),
                    "invoice": result.invoice,
                }
            )
            return Response(body.data, status=status.HTTP_201_CREATED)
