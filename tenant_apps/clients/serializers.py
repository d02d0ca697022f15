"""API representations of customers and contacts (input is validated again by the services)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from .models import Contact, Customer


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name", "email", "phone", "role", "receives_invoices"]
        read_only_fields = fields


class CustomerSerializer(serializers.ModelSerializer):
    country = serializers.CharField(source="country.code", read_only=True)
    display_name = serializers.CharField(read_only=True)
    has_portal_login = serializers.SerializerMethodField()
    contacts = ContactSerializer(many=True, read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "kind",
            "name",
            "company_name",
            "display_name",
            "email",
            "phone",
            "address_line1",
            "address_line2",
            "postal_code",
            "city",
            "region",
            "country",
            "currency",
            "language",
            "tax_id",
            "tax_id_status",
            "tax_id_checked_at",
            "tax_id_check_detail",
            "tax_exempt",
            "tax_exempt_reason",
            "credit_balance",
            "status",
            "has_portal_login",
            "notes",
            "contacts",
            "created_at",
        ]
        read_only_fields = fields

    def get_has_portal_login(self, obj) -> bool:
        return obj.user_id is not None


class ContactInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, allow_blank=True)
    email = serializers.CharField(max_length=254, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    role = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    receives_invoices = serializers.BooleanField(required=False, default=False)


def _text(field: str, **kwargs):
    """Optional text for the model field `field`, no longer than the column holds."""
    max_length = Customer._meta.get_field(field).max_length
    return serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=True, max_length=max_length, **kwargs
    )


# What a new customer cannot do without (PUT checks the same in the view).
REQUIRED_ON_CREATE = ("name", "email", "country")


class CustomerInputSerializer(serializers.Serializer):
    """Fields a client may set; missing or wrong values are reported by the services."""

    kind = serializers.ChoiceField(choices=Customer.Kind.choices, required=False)
    name = _text("name")
    company_name = _text("company_name")
    email = _text("email")
    phone = _text("phone")
    address_line1 = _text("address_line1")
    address_line2 = _text("address_line2")
    postal_code = _text("postal_code")
    city = _text("city")
    region = _text("region")
    country = _text("country", help_text=gettext_lazy("ISO 3166-1 alpha-2, e.g. FR"))
    currency = _text(
        "currency", help_text=gettext_lazy("ISO 4217; defaults to the instance's currency")
    )
    language = _text("language")
    tax_id = _text(
        "tax_id", help_text=gettext_lazy("EU VAT ids are normalised and checked with VIES")
    )
    tax_exempt = serializers.BooleanField(required=False)
    tax_exempt_reason = _text("tax_exempt_reason")
    notes = _text("notes")
    contacts = ContactInputSerializer(
        many=True, required=False, help_text=gettext_lazy("On create only")
    )

    def validate(self, attrs):
        if self.instance is not None and "contacts" in attrs:
            raise serializers.ValidationError(
                {"contacts": [_("Change contacts through /customers/{id}/contacts/.")]}
            )
        if self.instance is None:
            missing = [field for field in REQUIRED_ON_CREATE if field not in attrs]
            if missing:
                raise serializers.ValidationError(
                    {field: [_("This field is required.")] for field in missing}
                )
        return attrs
