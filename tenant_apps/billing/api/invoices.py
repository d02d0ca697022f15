"""Billing API of invoices and credit notes: list, read, drafts and their lines, issue, void,
credit notes, payments against one invoice, credit applied, the stored PDF.

Every staff member reads; writes need `can_bill` and call the same services as the screens,
with the caller as the actor (`audit.request_actor`: "<e-mail> (API)" for an API key).
"""

from __future__ import annotations

from django.http import FileResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from tenant_apps.instance.audit import request_actor

from .. import services
from ..models import Invoice
from ..presenters import pdf_filename
from ..selectors import get_invoice_for, invoice_list, overdue_invoice_q
from ..serializers import (
    AppliedCreditSerializer,
    ApplyCreditSerializer,
    CreditNoteInputSerializer,
    InvoiceCreateSerializer,
    InvoiceDetailSerializer,
    InvoiceSerializer,
    LineInputSerializer,
    PaymentInputSerializer,
    PaymentSerializer,
    VoidSerializer,
)
from .common import NOT_FOUND, REFUSED, CanBillOrReadOnly


class InvoiceFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Invoice.Status.choices, required=False)
    kind = serializers.ChoiceField(choices=Invoice.Kind.choices, required=False)
    customer = serializers.IntegerField(required=False, help_text=gettext_lazy("Customer id"))
    overdue = serializers.BooleanField(
        required=False,
        default=False,
        help_text=gettext_lazy("Only unpaid invoices past their due date"),
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
            raise NotFound(_("No such invoice.")) from exc

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
            actor=request_actor(request),
        )
        return self._detail(invoice, status.HTTP_201_CREATED)

    @extend_schema(summary="Delete a draft", responses={204: None, 409: REFUSED})
    def destroy(self, request, pk=None):
        services.invoice_draft_delete(invoice=self.get_object(), actor=request_actor(request))
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
        services.invoice_line_add(
            invoice=invoice, line=payload.validated_data, actor=request_actor(request)
        )
        return self._detail(invoice, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove a line from a draft",
        request=None,
        responses={200: InvoiceDetailSerializer, 400: REFUSED, 409: REFUSED},
    )
    @action(detail=True, methods=["delete"], url_path=r"lines/(?P<line_id>[0-9]+)")
    def remove_line(self, request, pk=None, line_id=None):
        invoice = self.get_object()
        services.invoice_line_remove(
            invoice=invoice, line_id=int(line_id), actor=request_actor(request)
        )
        return self._detail(invoice)

    @extend_schema(
        summary="Issue a draft: number, snapshots, amounts frozen",
        request=None,
        responses={200: InvoiceDetailSerializer, 400: REFUSED, 409: REFUSED},
    )
    @action(detail=True, methods=["post"])
    def issue(self, request, pk=None):
        return self._detail(
            services.invoice_issue(actor=request_actor(request), invoice=self.get_object())
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
            actor=request_actor(request),
            invoice=invoice,
            reason=payload.validated_data["reason"],
            waive_periods=payload.validated_data["waive_periods"],
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
            actor=request_actor(request),
            invoice=invoice,
            reason=payload.validated_data["reason"],
            lines=[dict(line) for line in lines] if lines else None,
            waive_periods=payload.validated_data["waive_periods"],
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
            actor=request_actor(request),
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
            invoice=invoice,
            amount=payload.validated_data.get("amount"),
            actor=request_actor(request),
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
                _("The PDF is not ready yet: it is rendered in the background after issue.")
                if invoice.status != Invoice.Status.DRAFT
                else _("Drafts have no PDF: issue the invoice first.")
            )
        return FileResponse(
            invoice.pdf.open("rb"),
            as_attachment=True,
            filename=pdf_filename(invoice),
            content_type="application/pdf",
        )
