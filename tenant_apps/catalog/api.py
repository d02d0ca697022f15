"""Catalog API: products (prices nested), tax classes. Reads for staff, writes for managers."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from tenant_apps.accounts.permissions import StaffReadManagersWrite
from tenant_apps.instance.audit import request_actor

from . import services
from .models import BillingCycle, Product, TaxClass
from .selectors import product_list, tax_class_list

MAX_INT = 2_147_483_647  # PostgreSQL's integer


class CanManageCatalogOrReadOnly(StaffReadManagersWrite):
    """Any staff member reads; only the owner and administrators write."""

    write_message = gettext_lazy("Only the owner or an administrator can change the catalog.")


class PriceSerializer(serializers.Serializer):
    currency = serializers.CharField(
        max_length=3, help_text=gettext_lazy("ISO 4217 code, e.g. EUR")
    )
    cycle = serializers.ChoiceField(choices=BillingCycle.choices)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    setup_fee = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)


class ProductSerializer(serializers.ModelSerializer):
    tax_class = serializers.SlugRelatedField(slug_field="code", read_only=True)
    addons = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    prices = PriceSerializer(many=True, read_only=True)
    resources = serializers.DictField(
        child=serializers.IntegerField(),
        help_text=gettext_lazy("Resource code → amount one unit needs"),
    )

    class Meta:
        model = Product
        fields = [
            "id",
            "code",
            "name",
            "description",
            "kind",
            "tax_class",
            "is_active",
            "position",
            "resources",
            "is_reseller_plan",
            "once_per_service",
            "addons",
            "prices",
            "created_at",
        ]
        read_only_fields = fields


class ProductWriteSerializer(serializers.Serializer):
    """Input only; the service validates meaning. Fields left out of an update stay as they are;
    `prices` and `addons`, when sent, replace the whole set."""

    code = serializers.CharField(max_length=60)
    name = serializers.CharField(max_length=200)
    tax_class = serializers.SlugRelatedField(
        slug_field="code", queryset=TaxClass.objects.all(), help_text=gettext_lazy("Tax class code")
    )
    kind = serializers.ChoiceField(
        choices=Product.Kind.choices,
        required=False,
        help_text=gettext_lazy("plan (default) or addon"),
    )
    description = serializers.CharField(required=False, allow_blank=True)
    # Bounded like the columns they end up in (a larger number would be a database error).
    position = serializers.IntegerField(required=False, min_value=0, max_value=MAX_INT)
    resources = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=MAX_INT), required=False
    )
    is_reseller_plan = serializers.BooleanField(required=False)
    once_per_service = serializers.BooleanField(
        required=False,
        help_text=gettext_lazy("Add-ons: a service can have it only once (default true)"),
    )
    addons = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Product.objects.all(),
        many=True,
        required=False,
        help_text=gettext_lazy("Codes of add-on products"),
    )
    prices = PriceSerializer(many=True, required=False)


class TaxClassSerializer(serializers.ModelSerializer):
    product_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = TaxClass
        fields = ["id", "code", "name", "product_count"]


class ProductFilterSerializer(serializers.Serializer):
    """Query parameters of the product list: a value that is not one is a 400, not ignored."""

    search = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text=gettext_lazy("Name, code or description"),
    )
    kind = serializers.ChoiceField(choices=Product.Kind.choices, required=False, allow_blank=True)
    # Read from a plain dict (see get_queryset): on form-style input DRF takes a missing
    # boolean for false, which would list only the inactive ones.
    active = serializers.BooleanField(required=False, allow_null=True, default=None)


@extend_schema_view(
    list=extend_schema(
        summary="Products of this instance's catalog", parameters=[ProductFilterSerializer]
    ),
    retrieve=extend_schema(summary="One product with its prices"),
)
class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Products and add-ons. Writes go through the catalog services (owner/admin only)."""

    permission_classes = [CanManageCatalogOrReadOnly]
    serializer_class = ProductSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if self.action != "list":
            return product_list()
        query = ProductFilterSerializer(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        return product_list(
            search=filters.get("search") or None,
            kind=filters.get("kind") or None,
            active=filters["active"],
        )

    def get_object(self) -> Product:
        try:
            return product_list().get(pk=self.kwargs["pk"])
        except Product.DoesNotExist as exc:
            raise NotFound(_("No such product.")) from exc

    def _respond(self, product: Product, code: int = status.HTTP_200_OK) -> Response:
        return Response(ProductSerializer(product_list().get(pk=product.pk)).data, status=code)

    @extend_schema(request=ProductWriteSerializer, responses={201: ProductSerializer})
    def create(self, request):
        payload = ProductWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = {"kind": Product.Kind.PLAN, **payload.validated_data}
        product = services.product_create(**data, actor=request_actor(request))
        return self._respond(product, status.HTTP_201_CREATED)

    def _update(self, request, partial: bool) -> Response:
        product = self.get_object()
        payload = ProductWriteSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        product = services.product_update(
            product=product, **payload.validated_data, actor=request_actor(request)
        )
        return self._respond(product)

    @extend_schema(request=ProductWriteSerializer, responses=ProductSerializer)
    def update(self, request, pk=None):
        return self._update(request, partial=False)

    @extend_schema(request=ProductWriteSerializer, responses=ProductSerializer)
    def partial_update(self, request, pk=None):
        return self._update(request, partial=True)

    @extend_schema(request=None, responses=ProductSerializer, summary="Stop selling a product")
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        product = services.product_archive(product=self.get_object(), actor=request_actor(request))
        return self._respond(product)

    @extend_schema(request=None, responses=ProductSerializer, summary="Sell a product again")
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        product = services.product_restore(product=self.get_object(), actor=request_actor(request))
        return self._respond(product)


class TaxClassViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Tax classes; rates per country are set in billing."""

    permission_classes = [CanManageCatalogOrReadOnly]
    serializer_class = TaxClassSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return tax_class_list()

    def get_object(self) -> TaxClass:
        try:
            return tax_class_list().get(pk=self.kwargs["pk"])
        except TaxClass.DoesNotExist as exc:
            raise NotFound(_("No such tax class.")) from exc

    def _respond(self, tax_class: TaxClass, code: int = status.HTTP_200_OK) -> Response:
        return Response(TaxClassSerializer(tax_class_list().get(pk=tax_class.pk)).data, status=code)

    @extend_schema(request=TaxClassSerializer, responses={201: TaxClassSerializer})
    def create(self, request):
        payload = TaxClassSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        tax_class = services.tax_class_create(
            code=payload.validated_data["code"],
            name=payload.validated_data["name"],
            actor=request_actor(request),
        )
        return self._respond(tax_class, status.HTTP_201_CREATED)

    def _update(self, request, partial: bool) -> Response:
        tax_class = self.get_object()
        # The instance lets the unique-code check ignore this tax class's own code.
        payload = TaxClassSerializer(tax_class, data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        tax_class = services.tax_class_update(
            tax_class=tax_class, **payload.validated_data, actor=request_actor(request)
        )
        return self._respond(tax_class)

    @extend_schema(request=TaxClassSerializer, responses=TaxClassSerializer)
    def update(self, request, pk=None):
        return self._update(request, partial=False)

    @extend_schema(request=TaxClassSerializer, responses=TaxClassSerializer)
    def partial_update(self, request, pk=None):
        return self._update(request, partial=True)
