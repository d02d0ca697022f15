"""Access rules shared by views and the API: who is staff of this instance."""

from __future__ import annotations

from django.contrib.auth.mixins import AccessMixin
from rest_framework.permissions import BasePermission


class IsInstanceStaff(BasePermission):
    """API: the caller is an active staff member of the instance serving the request."""

    message = "Staff access to this instance is required."

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
