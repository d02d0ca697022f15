"""E-invoicing API (mounted at /api/einvoicing/): settings, a customer's details, each
document's status and files in every format, and the period export as a streamed ZIP.

Every staff member reads and downloads; a customer's details are written by billing staff
(owner, administrators, billing), the settings by the owner and administrators. A document
that cannot be produced valid is answered 422 with its problems, never with a file.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from tenant_apps.accounts.permissions import StaffReadBillersWrite, StaffReadManagersWrite
from tenant_apps.billing.models import Invoice
from tenant_apps.billing.selectors import get_invoice_for
from tenant_apps.clients.models import Customer
from tenant_apps.instance.audit import request_actor

from . import services
from .documents import EInvoiceRefused, einvoice_check, einvoice_produce
from .export import einvoice_zip_stream, export_name
from .formats import E_FORMATS, parse_format
from .models import CustomerEInvoicing, IssuerEInvoicing
from .selectors import customer_format, customer_profile_get, issuer_settings_get
from .serializers import (
    CustomerEInvoicingSerializer,
    DocumentStatusSerializer,
    ExportQuerySerializer,
    IssuerEInvoicingSerializer,
    RefusalSerializer,
)

NOT_FOUND = OpenApiResponse(description="No such object in this instance")


class SettingsPermission(StaffReadManagersWrite):
    write_message = gettext_lazy(
        "Only the owner or an administrator can change e-invoicing settings."
    )


def _refusal(exc: EInvoiceRefused) -> Response:
    return Response(
        {"detail": str(exc), "code": exc.code, "problems": [p.message for p in exc.problems]},
        status=status.HTTP_422_UNPROCESSABLE_ENTITY,
    )


def _invoice(request, pk) -> Invoice:
    try:
        return get_invoice_for(request.user, pk)
    except Invoice.DoesNotExist as exc:
        raise NotFound(gettext("No such invoice.")) from exc


def _issued(invoice: Invoice) -> Invoice:
    if invoice.status == Invoice.Status.DRAFT:
        raise NotFound(gettext("Drafts have no e-invoice: issue the invoice first."))
    return invoice


class SettingsApiView(APIView):
    permission_classes = [SettingsPermission]

    @extend_schema(summary="E-invoicing settings", responses=IssuerEInvoicingSerializer)
    def get(self, request):
        row = issuer_settings_get() or IssuerEInvoicing()
        return Response(IssuerEInvoicingSerializer(row).data)

    @extend_schema(
        summary="Change e-invoicing settings",
        request=IssuerEInvoicingSerializer,
        responses=IssuerEInvoicingSerializer,
    )
    def patch(self, request):
        payload = IssuerEInvoicingSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        try:
            row = services.issuer_einvoicing_update(
                actor=request_actor(request), **payload.validated_data
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return Response(IssuerEInvoicingSerializer(row).data)


class CustomerApiView(APIView):
    permission_classes = [StaffReadBillersWrite]

    def _customer(self, pk) -> Customer:
        return get_object_or_404(Customer, pk=pk)

    @extend_schema(
        summary="A customer's e-invoicing format and references",
        responses={200: CustomerEInvoicingSerializer, 404: NOT_FOUND},
    )
    def get(self, request, pk: int):
        customer = self._customer(pk)
        row = customer_profile_get(customer.pk) or CustomerEInvoicing(customer=customer)
        return Response(CustomerEInvoicingSerializer(row).data)

    @extend_schema(
        summary="Change a customer's e-invoicing format and references",
        request=CustomerEInvoicingSerializer,
        responses={200: CustomerEInvoicingSerializer, 400: OpenApiResponse(), 404: NOT_FOUND},
    )
    def patch(self, request, pk: int):
        customer = self._customer(pk)
        payload = CustomerEInvoicingSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        try:
            row = services.customer_einvoicing_update(
                customer=customer, actor=request_actor(request), **payload.validated_data
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return Response(CustomerEInvoicingSerializer(row).data)


class DocumentStatusApiView(APIView):
    @extend_schema(
        summary="Whether an issued document has a valid e-invoice in each format, and why not",
        responses={200: DocumentStatusSerializer, 404: NOT_FOUND},
    )
    def get(self, request, pk: int):
        invoice = _issued(_invoice(request, pk))
        formats = {}
        for fmt in E_FORMATS:
            problems = einvoice_check(invoice=invoice, fmt=fmt)
            formats[fmt.value] = {
                "valid": not problems,
                "problems": [problem.message for problem in problems],
                "url": reverse("einvoice-api-document", args=[invoice.pk, fmt.value]),
            }
        return Response(
            {
                "invoice": invoice.pk,
                "number": invoice.number,
                "customer_format": customer_format(invoice.customer_id),
                "formats": formats,
            }
        )


class DocumentFileApiView(APIView):
    def perform_content_negotiation(self, request, force=False):
        # The file answers its own type (PDF or XML); refusals are still JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="einvoicing_invoices_document",
        summary="An issued document as Factur-X (PDF), Peppol BIS 3.0 or XRechnung (UBL XML)",
        parameters=[
            OpenApiParameter(
                "fmt", str, OpenApiParameter.PATH, enum=[fmt.value for fmt in E_FORMATS]
            )
        ],
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (200, "application/xml"): OpenApiTypes.BINARY,
            404: NOT_FOUND,
            422: RefusalSerializer,
        },
    )
    def get(self, request, pk: int, fmt: str):
        chosen = parse_format(fmt)
        if chosen is None:
            raise NotFound(gettext("No such format: use facturx, peppol or xrechnung."))
        invoice = _issued(_invoice(request, pk))
        try:
            produced = einvoice_produce(invoice=invoice, fmt=chosen)
        except EInvoiceRefused as exc:
            return _refusal(exc)
        response = HttpResponse(produced.content, content_type=produced.content_type)
        response["Content-Disposition"] = f'attachment; filename="{produced.filename}"'
        return response


class ExportApiView(APIView):
    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="Every issued document of a period as e-invoices, in one streamed ZIP",
        parameters=[ExportQuerySerializer],
        responses={(200, "application/zip"): OpenApiTypes.BINARY, 400: OpenApiResponse()},
    )
    def get(self, request):
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end, fmt = (query.validated_data[k] for k in ("start", "end", "format"))
        response = StreamingHttpResponse(
            einvoice_zip_stream(start=start, end=end, fmt=fmt), content_type="application/zip"
        )
        response["Content-Disposition"] = f'attachment; filename="{export_name(start, end, fmt)}"'
        return response
