"""Customers API (instance staff): list, create, read, update, close, tax id check, contacts.

Writes go through `services`; their ValidationError becomes a 400 keyed by field
(config.errors.api_exception_handler).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from tenant_apps.instance.audit import request_actor

from . import services
from .models import Customer
from .selectors import customer_list, get_customer_for
from .serializers import (
    ContactInputSerializer,
    ContactSerializer,
    CustomerInputSerializer,
    CustomerSerializer,
)
from .tables import CustomerFilter

LIST_PARAMETERS = [
    OpenApiParameter("q", OpenApiTypes.STR, description="Name, company, e-mail, tax id, city"),
    OpenApiParameter("status", OpenApiTypes.STR, enum=Customer.Status.values),
    OpenApiParameter("kind", OpenApiTypes.STR, enum=Customer.Kind.values),
    OpenApiParameter("country", OpenApiTypes.STR, description="ISO 3166-1 alpha-2, e.g. FR"),
]
# PUT replaces the customer's details, so these must be present (PATCH may omit them).
REQUIRED_ON_PUT = ("name", "email", "country")


@extend_schema_view(
    list=extend_schema(summary="Customers of this instance", parameters=LIST_PARAMETERS),
    retrieve=extend_schema(summary="One customer, with contacts"),
)
class CustomerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = CustomerSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return Customer.objects.prefetch_related("contacts")

    def get_object(self) -> Customer:
        try:
            return get_customer_for(self.request.user, self.kwargs["pk"])
        except Customer.DoesNotExist as exc:
            raise NotFound(_("No such customer.")) from exc

    def _actor(self):
        return request_actor(self.request)

    def _detail(self, customer: Customer, code: int = status.HTTP_200_OK) -> Response:
        fresh = get_customer_for(self.request.user, customer.pk)
        return Response(CustomerSerializer(fresh).data, status=code)

    def list(self, request, *args, **kwargs):
        filterset = CustomerFilter(
            request.query_params, queryset=customer_list(), all_countries=True
        )
        if not filterset.is_valid():
            raise serializers.ValidationError(filterset.errors)
        page = self.paginate_queryset(filterset.qs.prefetch_related("contacts"))
        return self.get_paginated_response(CustomerSerializer(page, many=True).data)

    @extend_schema(
        summary="Add a customer",
        request=CustomerInputSerializer,
        responses={201: CustomerSerializer},
    )
    def create(self, request):
        payload = CustomerInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        customer = services.customer_create(**payload.validated_data, actor=self._actor())
        return self._detail(customer, status.HTTP_201_CREATED)

    def _update(self, request, *, partial: bool) -> Response:
        customer = self.get_object()
        payload = CustomerInputSerializer(instance=customer, data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        asked_status = request.data.get("tax_id_status") if hasattr(request.data, "get") else None
        if asked_status is not None and asked_status != customer.tax_id_status:
            # Read-only for everyone (the registry sets it), but asking is refused like
            # any other tax term for those who may not change them.
            services.tax_terms_guard(
                actor=self._actor(), customer=customer, fields=["tax_id_status"]
            )
        changes = dict(payload.validated_data)
        missing = [field for field in REQUIRED_ON_PUT if field not in changes]
        if not partial and missing:
            raise serializers.ValidationError(
                {field: [_("This field is required (or use PATCH).")] for field in missing}
            )
        updated = services.customer_update(customer=customer, actor=self._actor(), **changes)
        return self._detail(updated)

    @extend_schema(
        summary="Replace a customer's details",
        request=CustomerInputSerializer,
        responses=CustomerSerializer,
    )
    def update(self, request, pk=None):
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change some of a customer's details",
        request=CustomerInputSerializer,
        responses=CustomerSerializer,
    )
    def partial_update(self, request, pk=None):
        return self._update(request, partial=True)

    @extend_schema(summary="Close a customer (data is kept)", request=None)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        customer = services.customer_close(customer=self.get_object(), actor=self._actor())
        return self._detail(customer)

    @extend_schema(summary="Check the customer's EU VAT id with VIES again", request=None)
    @action(detail=True, methods=["post"], url_path="verify-tax-id")
    def verify_tax_id(self, request, pk=None):
        customer = services.customer_tax_id_verify(customer=self.get_object(), actor=self._actor())
        return self._detail(customer)

    @extend_schema(
        methods=["GET"],
        summary="The customer's contacts",
        request=None,
        responses=ContactSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Add a contact",
        request=ContactInputSerializer,
        responses={201: ContactSerializer},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def contacts(self, request, pk=None):
        customer = self.get_object()
        if request.method == "GET":
            return Response(ContactSerializer(customer.contacts.all(), many=True).data)
        payload = ContactInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        contact = services.contact_add(
            customer=customer, actor=self._actor(), **payload.validated_data
        )
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)
