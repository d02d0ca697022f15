"""The team list (django-tables2) and its filters (django-filter) on the staff screens."""

from __future__ import annotations

import django_filters
import django_tables2 as tables
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import STAFF_ROLES, Role, User
from .selectors import staff_list

STATUS_CHOICES = [("active", "Active"), ("inactive", "Deactivated")]


class StaffTable(tables.Table):
    email = tables.Column(
        linkify=("dashboard:staff_member", {"pk": tables.A("pk")}),
        verbose_name=gettext_lazy("E-mail"),
    )
    full_name = tables.Column(verbose_name=gettext_lazy("Name"), default="—")
    role = tables.Column(verbose_name=gettext_lazy("Role"))
    is_active = tables.Column(verbose_name=gettext_lazy("Status"))
    # Annotated by `selectors.staff_list` (one EXISTS, not a query per row).
    two_factor_enabled = tables.Column(verbose_name=gettext_lazy("Two-factor"), orderable=True)
    last_login = tables.DateTimeColumn(
        format="Y-m-d H:i", verbose_name=gettext_lazy("Last sign-in")
    )
    date_joined = tables.DateTimeColumn(format="Y-m-d", verbose_name=gettext_lazy("Since"))

    class Meta:
        model = User
        fields = [
            "email",
            "full_name",
            "role",
            "is_active",
            "two_factor_enabled",
            "last_login",
            "date_joined",
        ]
        empty_text = gettext_lazy("No team members match.")
        attrs = {"class": "table"}

    def render_role(self, record: User):
        return format_html('<span class="badge badge-info">{}</span>', record.get_role_display())

    def render_is_active(self, record: User):
        if record.is_active:
            return format_html('<span class="badge badge-active">{}</span>', _("Active"))
        return format_html('<span class="badge badge-terminated">{}</span>', _("Deactivated"))

    def render_two_factor_enabled(self, value: bool):
        if value:
            return format_html('<span class="badge badge-success">{}</span>', _("On"))
        return format_html('<span class="badge badge-neutral">{}</span>', _("Off"))

    def render_last_login(self, record: User):
        return record.last_login.strftime("%Y-%m-%d %H:%M") if record.last_login else "never"


class StaffFilter(django_filters.FilterSet):
    """q / role / status; the filtering itself is `selectors.staff_list`."""

    q = django_filters.CharFilter(label=gettext_lazy("Search"))
    role = django_filters.ChoiceFilter(
        choices=[(r.value, r.label) for r in Role if r in STAFF_ROLES],
        empty_label=gettext_lazy("Any role"),
        label=gettext_lazy("Role"),
    )
    status = django_filters.ChoiceFilter(
        choices=STATUS_CHOICES, empty_label=gettext_lazy("Any status"), label=gettext_lazy("Status")
    )

    class Meta:
        model = User
        fields = ["q", "role", "status"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form.fields["q"].widget.attrs.update(placeholder=_("E-mail or name…"))

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        status = data.get("status")
        return staff_list(
            search=data.get("q") or None,
            role=data.get("role") or None,
            active=None if not status else status == "active",
        )
