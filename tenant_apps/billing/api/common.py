"""What the billing API's endpoints share: their permission rules and documented refusals."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse

from tenant_apps.accounts.permissions import StaffReadBillersWrite, StaffReadManagersWrite

NOT_FOUND = OpenApiResponse(description="No such object in this instance")
REFUSED = OpenApiResponse(description="Refused: bad input (400) or not allowed in this state (409)")


class CanBillOrReadOnly(StaffReadBillersWrite):
    """Any staff member reads; the owner, administrators and billing staff write."""


class CanManageOrReadOnly(StaffReadManagersWrite):
    """Any staff member reads; the owner and administrators change billing configuration."""

    write_message = gettext_lazy("Only the owner or an administrator can change billing settings.")
