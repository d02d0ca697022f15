"""Read-only API of the reports (JSON), under the billing API: /api/reports/….

The same figures as the screens, from the same selectors. Only the owner, administrators
and billing staff may read them (`CanReadReports`). Query parameters are validated by a
serializer: an unreadable date or an end before the start is a 400 with the field named.
Amounts are decimal strings, always next to their currency.
"""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from tenant_apps.accounts.permissions import NOT_BILLING, IsInstanceStaff
from tenant_apps.clients.models import Customer
from tenant_apps.instance import clock

from ..models import Invoice, Payment
from . import selectors
from .forms import EARLIEST, END_BEFORE_START, LATEST

JOURNAL_PAGE_SIZE = 500
BAD_QUERY = OpenApiResponse(description="A date cannot be read, or the end is before the start")
DENIED = OpenApiResponse(description="Not staff who bill (owner, administrator, billing)")


class CanReadReports(IsInstanceStaff):
    """Staff with the billing permission, whatever the method (the reports only read)."""

    message = NOT_BILLING

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.user.can_bill


def money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=16, decimal_places=2, **kwargs)


class ReportDateField(serializers.DateField):
    def to_internal_value(self, value):
        day = super().to_internal_value(value)
        if not EARLIEST <= day <= LATEST:
            raise serializers.ValidationError(
                _("Choose a date between %(year)s and %(year2)s.")
                % {"year": EARLIEST.year, "year2": LATEST.year}
            )
        return day


class RangeQuery(serializers.Serializer):
    start = ReportDateField(
        required=False, help_text=gettext_lazy("First day (default: this quarter's)")
    )
    end = ReportDateField(
        required=False, help_text=gettext_lazy("Last day (default: this quarter's)")
    )

    def validate(self, attrs):
        default_start, default_end = selectors.this_quarter()
        attrs.setdefault("start", default_start)
        attrs.setdefault("end", default_end)
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": [END_BEFORE_START]})
        return attrs


class VatQuery(RangeQuery):
    period = serializers.ChoiceField(choices=selectors.PERIODS, default="month")


class AgingQuery(serializers.Serializer):
    as_of = ReportDateField(required=False, help_text=gettext_lazy("Default: today"))


class JournalQuery(RangeQuery):
    page = serializers.IntegerField(min_value=1, default=1)


def _query(serializer_class, request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


# --------------------------------------------------------------------------------------
# Response shapes (for the schema, and to write decimals as strings)


class VatRowSerializer(serializers.Serializer):
    currency = serializers.CharField()
    period = serializers.DateField(help_text=gettext_lazy("First day of the month or quarter"))
    country = serializers.CharField(help_text=gettext_lazy("The customer's country at issue"))
    rate = serializers.DecimalField(max_digits=6, decimal_places=3)
    treatment = serializers.ChoiceField(choices=Invoice.TaxTreatment.choices)
    net = money()
    vat = money()
    lines = serializers.IntegerField()


class EcSalesRowSerializer(serializers.Serializer):
    currency = serializers.CharField()
    country = serializers.CharField()
    vat_id = serializers.CharField()
    customer = serializers.CharField(allow_null=True)
    net = money()
    documents = serializers.IntegerField()


class VatTotalSerializer(serializers.Serializer):
    currency = serializers.CharField()
    net = money()
    vat = money()


class NetTotalSerializer(serializers.Serializer):
    currency = serializers.CharField()
    net = money()


class VatReportSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    period = serializers.CharField()
    rows = VatRowSerializer(many=True)
    totals = VatTotalSerializer(many=True)
    ec_sales = EcSalesRowSerializer(many=True)
    ec_totals = NetTotalSerializer(many=True)


class InvoicedRowSerializer(serializers.Serializer):
    currency = serializers.CharField()
    month = serializers.DateField(required=False)
    net = money()
    vat = money()
    gross = money()
    invoices = serializers.IntegerField()
    credit_notes = serializers.IntegerField()


class CollectedRowSerializer(serializers.Serializer):
    currency = serializers.CharField()
    month = serializers.DateField(required=False)
    received = money(help_text=gettext_lazy("Payments received (not reversed)"))
    refunded = money(help_text=gettext_lazy("Refunds paid back"))
    amount = money(help_text=gettext_lazy("Collected: received less refunded"))
    payments = serializers.IntegerField()


class DeferredRowSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = money()
    lines = serializers.IntegerField()


class RevenueReportSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    invoiced = InvoicedRowSerializer(many=True)
    invoiced_totals = InvoicedRowSerializer(many=True)
    collected = CollectedRowSerializer(many=True)
    collected_totals = CollectedRowSerializer(many=True)
    deferred = DeferredRowSerializer(many=True)


class AgingRowSerializer(serializers.Serializer):
    currency = serializers.CharField()
    customer_id = serializers.IntegerField(required=False)
    customer = serializers.CharField(required=False)
    not_due = money()
    days_0_30 = money()
    days_31_60 = money()
    days_61_90 = money()
    over_90 = money()
    total = money()
    invoices = serializers.IntegerField()


class AgingReportSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    rows = AgingRowSerializer(many=True)
    totals = AgingRowSerializer(many=True)


class JournalRowSerializer(serializers.Serializer):
    date = serializers.DateField()
    type = serializers.ChoiceField(
        choices=["invoice", "credit_note", "payment", "payment_reversal", "refund"]
    )
    journal = serializers.ChoiceField(choices=["sales", "bank"])
    number = serializers.CharField()
    applies_to = serializers.CharField(
        help_text=gettext_lazy(
            "Credited invoice, invoices a payment settled, or the payment refunded"
        )
    )
    reference = serializers.CharField(
        help_text=gettext_lazy("The payment's or refund's own reference")
    )
    customer_account = serializers.CharField()
    customer = serializers.CharField()
    country = serializers.CharField()
    vat_id = serializers.CharField()
    tax_treatment = serializers.CharField()
    currency = serializers.CharField()
    net = money(allow_null=True)
    vat = money(allow_null=True)
    gross = money()
    debit = money(allow_null=True, help_text=gettext_lazy("On the customer's receivable account"))
    credit = money(allow_null=True, help_text=gettext_lazy("On the customer's receivable account"))
    method = serializers.ChoiceField(choices=[("", ""), *Payment.Method.choices])


class JournalPageSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    results = JournalRowSerializer(many=True)


class StatementLineSerializer(serializers.Serializer):
    date = serializers.DateField()
    kind = serializers.ChoiceField(choices=list(selectors.KIND_ORDER))
    label = serializers.CharField()
    reference = serializers.CharField()
    debit = money()
    credit = money()
    balance = money()
    invoice_id = serializers.IntegerField(allow_null=True)


class StatementSectionSerializer(serializers.Serializer):
    currency = serializers.CharField()
    opening = money()
    lines = StatementLineSerializer(many=True)
    total_debit = money()
    total_credit = money()
    closing = money()


class StatementSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField(source="customer.pk")
    customer = serializers.CharField(source="customer.display_name")
    start = serializers.DateField()
    end = serializers.DateField()
    sections = StatementSectionSerializer(many=True)


# --------------------------------------------------------------------------------------
# Endpoints


class ReportAPIView(APIView):
    permission_classes = [CanReadReports]


class VatReportAPIView(ReportAPIView):
    @extend_schema(
        summary="VAT per currency, period, country, rate and tax treatment; EC sales list",
        parameters=[VatQuery],
        responses={200: VatReportSerializer, 400: BAD_QUERY, 403: DENIED},
    )
    def get(self, request):
        query = _query(VatQuery, request)
        report = selectors.vat_report(**query)
        return Response(VatReportSerializer(report).data)


class RevenueReportAPIView(ReportAPIView):
    @extend_schema(
        summary="Revenue: invoiced and collected by month, deferred at the range's end",
        parameters=[RangeQuery],
        responses={200: RevenueReportSerializer, 400: BAD_QUERY, 403: DENIED},
    )
    def get(self, request):
        report = selectors.revenue_report(**_query(RangeQuery, request))
        return Response(RevenueReportSerializer(report).data)


class AgingReportAPIView(ReportAPIView):
    @extend_schema(
        summary="Aging of receivables per customer and currency, by days past due",
        parameters=[AgingQuery],
        responses={200: AgingReportSerializer, 400: BAD_QUERY, 403: DENIED},
    )
    def get(self, request):
        query = _query(AgingQuery, request)
        as_of = query.get("as_of") or clock.today()
        return Response(AgingReportSerializer(selectors.aging_report(as_of=as_of)).data)


class JournalAPIView(ReportAPIView):
    @extend_schema(
        summary=f"Journal: invoices, credit notes and payments ({JOURNAL_PAGE_SIZE} a page)",
        parameters=[JournalQuery],
        responses={200: JournalPageSerializer, 400: BAD_QUERY, 403: DENIED},
    )
    def get(self, request):
        query = _query(JournalQuery, request)
        start, end, page = query["start"], query["end"], query["page"]
        count = selectors.journal_count(start=start, end=end)
        rows = selectors.journal_rows(
            start=start,
            end=end,
            limit=JOURNAL_PAGE_SIZE,
            offset=(page - 1) * JOURNAL_PAGE_SIZE,
        )
        results = [dict(zip(selectors.JOURNAL_COLUMNS, row, strict=True)) for row in rows]
        payload = {
            "start": start,
            "end": end,
            "count": count,
            "page": page,
            "pages": max((count + JOURNAL_PAGE_SIZE - 1) // JOURNAL_PAGE_SIZE, 1),
            "results": results,
        }
        return Response(JournalPageSerializer(payload).data)


class StatementAPIView(ReportAPIView):
    @extend_schema(
        summary="A customer's statement: opening balance, movements, closing balance",
        parameters=[RangeQuery],
        responses={
            200: StatementSerializer,
            400: BAD_QUERY,
            403: DENIED,
            404: OpenApiResponse(description="No such customer in this instance"),
        },
    )
    def get(self, request, customer_id: int):
        try:
            customer = selectors.get_statement_customer_for(request.user, customer_id)
        except Customer.DoesNotExist as exc:
            raise Http404("No such customer.") from exc
        statement = selectors.customer_statement(customer=customer, **_query(RangeQuery, request))
        return Response(StatementSerializer(statement).data)
