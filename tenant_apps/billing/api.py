"""Billing API of one instance: invoices and credit notes, payments, tax rates, settings, runs.

Every staff member reads. Issuing, voiding, crediting, payments and runs need the owner, an
administrator or billing staff (`can_bill`); tax rates and settings need the owner or an
administrator. Writes call the same services as the screens; their ValidationError and
domain errors become 400/409 JSON through `config.errors.api_exception_handler`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from tenant_apps.accounts.permissions import (
    StaffReadBillersWrite,
    StaffReadManagersWrite,
)

from . import services
from .models import Invoice, Payment
from .selectors import (
    get_invoice_for,
    invoice_list,
    overdue_invoice_q,
    payment_list,
    tax_rate_list,
)
from .serializers import (
    AppliedCreditSerializer,
    ApplyCreditSerializer,
    BillingSettingsSerializer,
    CreditNoteInputSerializer,
    InvoiceCreateSerializer,
    InvoiceDetailSerializer,
    InvoiceSerializer,
    LineInputSerializer,
    PaymentCreateSerializer,
    PaymentInputSerializer,
    PaymentSerializer,
    TaxRateSerializer,
    VoidSerializer,
)

NOT_FOUND = OpenApiResponse(description="No such object in this instance")
REFUSED = OpenApiResponse(description="Refused: bad input (400) or not allowed in this state (409)")


class CanBillOrReadOnly(StaffReadBillersWrite):
    """Any staff member reads; the owner, administrators and billing staff write."""


class CanManageOrReadOnly(StaffReadManagersWrite):
    """Any staff member reads; the owner and administrators change billing configuration."""

    write_message = "Only the owner or an administrator can change billing settings."


# --------------------------------------------------------------------------------------
# Invoices and credit notes


class InvoiceFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Invoice.Status.choices, required=False)
    kind = serializers.ChoiceField(choices=Invoice.Kind.choices, required=False)
    customer = serializers.IntegerField(required=False, help_text="Customer id")
    overdue = serializers.BooleanField(
        required=False, default=False, help_text="Only unpaid invoices past their due date"
    )


@extend_schema_view(
    list=extend_schema(summary="Invoices and credit notes", parameters=[InvoiceFilterSerializer]),
    retrieve=extend_schema(
        summary="One document with its lines",
        responses={200: InvoiceDetailSerializer, 404: NOT_FOUND},
    ),
)
class InvoiceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [CanBillOrReadOnly]
    serializer_class = InvoiceSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        query = InvoiceFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        qs = invoice_list(
            customer_id=filters.get("customer"),
            status=filters.get("status"),
            kind=filters.get("kind"),
        )
        if filters.get("overdue"):
            qs = qs.filter(overdue_invoice_q())
        return qs

    def get_serializer_class(self):
        return InvoiceSerializer if self.action == "list" else InvoiceDetailSerializer

    def get_object(self) -> Invoice:
        try:
            return get_invoice_for(self.request.user, self.kwargs["pk"])
        except Invoice.DoesNotExist as exc:
            raise NotFound("No such invoice.") from exc

    def perform_content_negotiation(self, request, force=False):
        # The PDF download answers application/pdf; its errors are still JSON.
        return super().perform_content_negotiation(request, force=force or self.action == "pdf")

    def _detail(self, invoice: Invoice, code: int = status.HTTP_200_OK) -> Response:
        fresh = get_invoice_for(self.request.user, invoice.pk)
        return Response(InvoiceDetailSerializer(fresh).data, status=code)

    @extend_schema(
        summary="Create a draft (with its first lines)",
        request=InvoiceCreateSerializer,
        responses={201: InvoiceDetailSerializer, 400: REFUSED},
    )
    def create(self, request):
        payload = InvoiceCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        invoice = services.invoice_create_draft(
            customer=data["customer"],
            currency=data["currency"] or None,
            notes=data["notes"],
            lines=data["lines"],
            created_by=request.user,
        )
        return self._detail(invoice, status.HTTP_201_CREATED)

    @extend_schema(summary="Delete a draft", responses={204: None, 409: REFUSED})
    def destroy(self, request, pk=None):
        services.invoice_draft_delete(invoice=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Add a line to a draft",
        request=LineInputSerializer,
        responses={201: InvoiceDetailSerializer, 400: REFUSED, 409: REFUSED},
    )
    @action(detail=True, methods=["post"])
    def lines(self, request, pk=None):
        invoice = self.get_object()
        payload = LineInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.invoice_line_add(invoice=invoice, line=payload.validated_data)
        return self._detail(invoice, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove a line from a draft",
        request=None,
        responses={200: InvoiceDetailSerializer, 400: REFUSED, 409: REFUSED},
    )
    @action(detail=True, methods=["delete"], url_path=r"lines/(?P<line_id>[0-9]+)")
    def remove_line(self, request, pk=None, line_id=None):
        invoice = self.get_object()
        services.invoice_line_remove(invoice=invoice, line_id=int(line_id))
        return self._detail(invoice)

    @extend_schema(
        summary="Issue a draft: number, snapshots, amounts frozen",
        request=None,
        responses={200: InvoiceDetailSerializer, 400: REFUSED, 409: REFUSED},
    )
    @action(detail=True, methods=["post"])
    def issue(self, request, pk=None):
        return self._detail(
            services.invoice_issue(actor=request.user.email, invoice=self.get_object())
        )

    @extend_schema(
        summary="Void an issued invoice nothing was paid or credited on",
        request=VoidSerializer,
        responses={200: InvoiceDetailSerializer, 409: REFUSED},
    )
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        invoice = self.get_object()
        payload = VoidSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.invoice_void(
            actor=request.user.email, invoice=invoice, reason=payload.validated_data["reason"]
        )
        return self._detail(invoice)

    @extend_schema(
        summary="Issue a credit note against this invoice (whole, or chosen lines)",
        request=CreditNoteInputSerializer,
        responses={201: InvoiceDetailSerializer, 400: REFUSED, 409: REFUSED},
    )
    @action(detail=True, methods=["post"], url_path="credit-notes")
    def credit_notes(self, request, pk=None):
        invoice = self.get_object()
        payload = CreditNoteInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        lines = payload.validated_data.get("lines")
        note = services.credit_note_create(
            actor=request.user.email,
            invoice=invoice,
            reason=payload.validated_data["reason"],
            lines=[dict(line) for line in lines] if lines else None,
        )
        return self._detail(note, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Record a payment of this invoice (an overpayment becomes credit)",
        request=PaymentInputSerializer,
        responses={201: PaymentSerializer, 400: REFUSED, 409: REFUSED},
    )
    @action(detail=True, methods=["post"])
    def payments(self, request, pk=None):
        invoice = self.get_object()
        payload = PaymentInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        payment = services.payment_record(
            actor=request.user.email,
            customer=invoice.customer,
            invoice=invoice,
            created_by=request.user,
            **payload.validated_data,
        )
        return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Settle this invoice from the customer's credit",
        request=ApplyCreditSerializer,
        responses={200: AppliedCreditSerializer, 400: REFUSED, 409: REFUSED},
    )
    @action(detail=True, methods=["post"], url_path="apply-credit")
    def apply_credit(self, request, pk=None):
        invoice = self.get_object()
        payload = ApplyCreditSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        applied = services.invoice_apply_credit(
            actor=request.user.email, invoice=invoice, amount=payload.validated_data.get("amount")
        )
        fresh = get_invoice_for(request.user, invoice.pk)
        return Response(AppliedCreditSerializer({"applied": applied, "invoice": fresh}).data)

    @extend_schema(
        summary="Download the stored PDF",
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such document, or its PDF is not rendered yet"),
        },
    )
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        invoice = self.get_object()
        if not invoice.pdf or not invoice.pdf.storage.exists(invoice.pdf.name):
            raise NotFound(
                "The PDF is not ready yet: it is rendered in the background after issue."
                if invoice.status != Invoice.Status.DRAFT
                else "Drafts have no PDF: issue the invoice first."
            )
        filename = f"{invoice.number}.pdf".replace("/", "-").replace("\\", "-")
        return FileResponse(
            invoice.pdf.open("rb"),
            as_attachment=True,
            filename=filename,
            content_type="application/pdf",
        )


# --------------------------------------------------------------------------------------
# Payments


class PaymentFilterSerializer(serializers.Serializer):
    customer = serializers.IntegerField(required=False)
    invoice = serializers.IntegerField(required=False)
    method = serializers.ChoiceField(choices=Payment.Method.choices, required=False)
    received_after = serializers.DateField(required=False)
    received_before = serializers.DateField(required=False)


@extend_schema_view(
    list=extend_schema(summary="Payments received", parameters=[PaymentFilterSerializer]),
    retrieve=extend_schema(summary="One payment"),
)
class PaymentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [CanBillOrReadOnly]
    serializer_class = PaymentSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        qs = payment_list()
        if self.action != "list":
            return qs
        query = PaymentFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        if "customer" in filters:
            qs = qs.filter(customer_id=filters["customer"])
        if "invoice" in filters:
            qs = qs.filter(invoice_id=filters["invoice"])
        if "method" in filters:
            qs = qs.filter(method=filters["method"])
        if "received_after" in filters:
            qs = qs.filter(received_on__gte=filters["received_after"])
        if "received_before" in filters:
            qs = qs.filter(received_on__lte=filters["received_before"])
        return qs

    @extend_schema(
        summary="Record a payment: on account, or against one of the customer's invoices",
        request=PaymentCreateSerializer,
        responses={201: PaymentSerializer, 400: REFUSED, 409: REFUSED},
    )
    def create(self, request):
        payload = PaymentCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        payment = services.payment_record(
            actor=request.user.email, created_by=request.user, **payload.validated_data
        )
        return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)


# --------------------------------------------------------------------------------------
# Tax rates, settings, runs


@extend_schema_view(
    list=extend_schema(summary="Tax rates by country and tax class"),
    create=extend_schema(summary="Add a tax rate"),
    update=extend_schema(summary="Change a tax rate"),
    partial_update=extend_schema(summary="Change a tax rate"),
    destroy=extend_schema(summary="Delete a tax rate"),
)
class TaxRateViewSet(viewsets.ModelViewSet):
    """Tax rates per country and tax class; writes go through the tax-rate services."""

    permission_classes = [CanManageOrReadOnly]
    serializer_class = TaxRateSerializer

    def get_queryset(self):
        return tax_rate_list()

    def _save(self, serializer, tax_rate=None):
        data = serializer.validated_data
        try:
            serializer.instance = services.tax_rate_set(
                country=data.get("country", getattr(tax_rate, "country", "")),
                tax_class=data.get("tax_class", getattr(tax_rate, "tax_class", None)),
                rate=data.get("rate", getattr(tax_rate, "rate", None)),
                name=data.get("name", getattr(tax_rate, "name", "VAT")),
                tax_rate=tax_rate,
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer, tax_rate=serializer.instance)

    def perform_destroy(self, instance):
        services.tax_rate_delete(tax_rate=instance)


class BillingSettingsView(APIView):
    """The instance's billing settings (one row); PUT replaces them, PATCH changes some."""

    permission_classes = [CanManageOrReadOnly]

    @extend_schema(summary="Billing settings", responses=BillingSettingsSerializer)
    def get(self, request):
        return Response(BillingSettingsSerializer(services.billing_settings_get()).data)

    def _update(self, request, *, partial: bool) -> Response:
        payload = BillingSettingsSerializer(
            services.billing_settings_get(), data=request.data, partial=partial
        )
        payload.is_valid(raise_exception=True)
        row = services.billing_settings_update(actor=request.user.email, **payload.validated_data)
        return Response(BillingSettingsSerializer(row).data)

    @extend_schema(
        summary="Replace the billing settings",
        request=BillingSettingsSerializer,
        responses={200: BillingSettingsSerializer, 400: REFUSED},
    )
    def put(self, request):
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change some billing settings",
        request=BillingSettingsSerializer,
        responses={200: BillingSettingsSerializer, 400: REFUSED},
    )
    def patch(self, request):
        return self._update(request, partial=True)
