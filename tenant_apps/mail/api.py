"""E-mail log API: what this instance sent or will send, for its staff (read-only).

Permissions are the API's default (`IsInstanceStaff`, set in REST_FRAMEWORK): any staff
member of the instance serving the request reads; customers and other instances' users
are refused. The schema is the instance, so another instance's e-mails cannot be named.
"""

from __future__ import annotations

from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.exceptions import NotFound, ValidationError

from .models import OutgoingEmail
from .selectors import email_list, get_email_for
from .serializers import OutgoingEmailSerializer

FILTERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=OutgoingEmail.Status.values),
    OpenApiParameter("template_key", OpenApiTypes.STR, description="e.g. invoice_issued"),
    OpenApiParameter("customer", OpenApiTypes.INT, description="Only this customer's e-mails"),
    OpenApiParameter("search", OpenApiTypes.STR, description="In subject, recipients, error"),
]


@extend_schema_view(
    list=extend_schema(summary="Outgoing e-mail, newest first", parameters=FILTERS),
    retrieve=extend_schema(summary="One outgoing e-mail"),
)
class OutgoingEmailViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = OutgoingEmailSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        params = self.request.query_params
        status = params.get("status", "")
        if status and status not in OutgoingEmail.Status.values:
            raise ValidationError(
                {
                    "status": [
                        gettext("Use one of: %(values)s.")
                        % {"values": ", ".join(OutgoingEmail.Status.values)}
                    ]
                }
            )
        customer = params.get("customer", "")
        if customer and not (customer.isascii() and customer.isdigit()):
            raise ValidationError({"customer": [gettext("Give a customer id: a whole number.")]})
        return email_list(
            status=status,
            template_key=params.get("template_key", "")[:40],
            search=params.get("search", "")[:200],
            customer_id=int(customer) if customer else None,
        )

    def get_object(self) -> OutgoingEmail:
        try:
            return get_email_for(self.request.user, self.kwargs["pk"])
        except OutgoingEmail.DoesNotExist as exc:
            raise NotFound(gettext("No such e-mail.")) from exc
