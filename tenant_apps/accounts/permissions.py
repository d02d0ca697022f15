"""Access rules shared by views and the API: who is staff of this instance, who may bill,
who may change the instance's configuration."""

from __future__ import annotations

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy
from rest_framework.permissions import SAFE_METHODS, BasePermission


class IsInstanceStaff(BasePermission):
    """API: the caller is an active staff member of the instance serving the request."""

    message = gettext_lazy("Staff access to this instance is required.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_instance_staff)


class StaffRequiredMixin(AccessMixin):
    """Views of the staff area: anonymous → login page; customers → 403."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not request.user.is_instance_staff:
            self.raise_exception = True
            return self.handle_no_permission()
        return super().dispatch(request, *args, **kwargs)


class CustomerRequiredMixin(AccessMixin):
    """Views of the customer portal: anonymous → login page; staff → 403."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not request.user.is_customer:
            self.raise_exception = True
            return self.handle_no_permission()
        return super().dispatch(request, *args, **kwargs)


class StaffReadManagersWrite(IsInstanceStaff):
    """API: any staff member reads; only the owner and administrators write.

    Subclasses name what is being changed in `write_message`, and may widen who writes.
    """

    write_message = gettext_lazy("Only the owner or an administrator can do this.")

    def can_write(self, user) -> bool:
        return user.can_manage_instance

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if request.method in SAFE_METHODS or self.can_write(request.user):
            return True
        self.message = self.write_message
        return False


class StaffReadBillersWrite(StaffReadManagersWrite):
    """API: any staff member reads; the owner, administrators and billing staff write."""

    write_message = gettext_lazy("Only the owner, administrators and billing staff can do this.")

    def can_write(self, user) -> bool:
        return user.can_bill


def _can_bill(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.can_bill)


NOT_BILLING = gettext_lazy("Only the owner, administrators and billing staff can do this.")
NOT_TAX_TERMS = gettext_lazy(
    "Only the owner, administrators and billing staff can change a customer's tax status, "
    "tax id, exemption reason or currency."
)
NOT_TEAM_MANAGER = gettext_lazy("Only the owner or an administrator can manage the team.")
NOT_MANAGER = gettext_lazy("Only the owner or an administrator can change billing settings.")


# --------------------------------------------------------------------------------------
# Access


class BillingStaffMixin(StaffRequiredMixin):
    """Every staff role reads; `require_billing` guards the writes."""

    def user_can_bill(self) -> bool:
        return _can_bill(self.request.user)

    def require_billing(self) -> None:
        if not self.user_can_bill():
            raise PermissionDenied(NOT_BILLING)


class BillingWriteMixin(BillingStaffMixin):
    """Pages that exist only to write (new invoice, run now): billing roles only."""

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_instance_staff and not _can_bill(user):
            raise PermissionDenied(NOT_BILLING)
        return super().dispatch(request, *args, **kwargs)


class TeamManagerMixin(StaffRequiredMixin):
    """The team screens: the owner and administrators only (other staff and customers 403)."""

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_instance_staff and not user.can_manage_instance:
            raise PermissionDenied(NOT_TEAM_MANAGER)
        return super().dispatch(request, *args, **kwargs)


class CanManageTeam(IsInstanceStaff):
    """API of the team: the owner and administrators, for reading and writing alike."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if request.user.can_manage_instance:
            return True
        self.message = NOT_TEAM_MANAGER
        return False


class BillingManagerMixin(StaffRequiredMixin):
    """Instance-wide billing configuration: the owner and administrators change it."""

    def require_manager(self) -> None:
        if not self.request.user.can_manage_instance:
            raise PermissionDenied(NOT_MANAGER)


class BillingManagerWriteMixin(BillingManagerMixin):
    """Pages that exist only to change configuration: the owner and administrators."""

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_instance_staff and not user.can_manage_instance:
            raise PermissionDenied(NOT_MANAGER)
        return super().dispatch(request, *args, **kwargs)
