"""API shapes of e-invoicing: settings, a customer's details, a document's status."""

from __future__ import annotations

from django.utils.translation import gettext, gettext_lazy
from rest_framework import serializers

from .formats import Format
from .models import ADDRESS_SCHEMES, CustomerEInvoicing, IssuerEInvoicing


class IssuerEInvoicingSerializer(serializers.ModelSerializer):
    class Meta:
        model = IssuerEInvoicing
        fields = ["endpoint_scheme", "endpoint_id", "contact_name", "facturx_default_pdf"]


class CustomerEInvoicingSerializer(serializers.ModelSerializer):
    format = serializers.ChoiceField(choices=Format.choices, required=False)
    endpoint_scheme = serializers.ChoiceField(
        choices=[("", gettext_lazy("none")), *ADDRESS_SCHEMES], required=False, allow_blank=True
    )

    class Meta:
        model = CustomerEInvoicing
        fields = ["format", "buyer_reference", "order_reference", "endpoint_scheme", "endpoint_id"]


class FormatStatusSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    problems = serializers.ListField(child=serializers.CharField())
    url = serializers.CharField(help_text="Where this API serves the document")


class DocumentStatusSerializer(serializers.Serializer):
    invoice = serializers.IntegerField()
    number = serializers.CharField()
    customer_format = serializers.ChoiceField(choices=Format.choices)
    formats = serializers.DictField(child=FormatStatusSerializer())


class RefusalSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    problems = serializers.ListField(child=serializers.CharField())


class ExportQuerySerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    format = serializers.ChoiceField(choices=[], default=Format.FACTURX)

    def __init__(self, *args, **kwargs):
        from .export import EXPORT_CHOICES

        super().__init__(*args, **kwargs)
        self.fields["format"].choices = EXPORT_CHOICES

    def validate(self, data):
        from .export import MAX_DAYS

        if data["end"] < data["start"]:
            raise serializers.ValidationError(
                {"end": [gettext("The period ends before it starts.")]}
            )
        if (data["end"] - data["start"]).days > MAX_DAYS:
            raise serializers.ValidationError(
                {"end": [gettext("Export at most %(days)s days.") % {"days": MAX_DAYS}]}
            )
        return data
