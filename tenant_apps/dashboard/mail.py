"""The staff area's e-mail screens: how the instance sends (owner only, with a test
e-mail that says in plain words why it failed) and the e-mail log (every staff member:
filter, sort, paginate, send a failed one again). The mail app holds the rules; these
views only show them."""

from __future__ import annotations

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy
from django.views import View
from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from tenant_apps.accounts.models import Role
from tenant_apps.accounts.permissions import StaffRequiredMixin
from tenant_apps.instance.audit import request_actor
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.forms import form_add_service_errors
from tenant_apps.mail import selectors, services
from tenant_apps.mail.forms import MailSettingsForm, TestEmailForm
from tenant_apps.mail.models import OutgoingEmail
from tenant_apps.mail.transport import relay_address

ONLY_OWNER = gettext_lazy("Only the owner can change how this instance sends e-mail.")


class OwnerRequiredMixin(StaffRequiredMixin):
    """Staff screens for the owner alone (other staff roles and customers: 403)."""

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_instance_staff and user.role != Role.OWNER:
            raise PermissionDenied(ONLY_OWNER)
        return super().dispatch(request, *args, **kwargs)


class MailSettingsView(OwnerRequiredMixin, TemplateView):
    template_name = "dashboard/mail_settings.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        row = selectors.mail_settings_get()
        context.setdefault("form", MailSettingsForm(initial=MailSettingsForm.initial_for(row)))
        context.setdefault("test_form", TestEmailForm(initial={"to": self.request.user.email}))
        context.update(settings_row=row, relay_address=relay_address())
        return context

    def post(self, request, *args, **kwargs):
        form = MailSettingsForm(request.POST)
        if form.is_valid():
            try:
                services.mail_settings_set(actor=request_actor(request), **form.service_arguments())
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request, gettext("E-mail settings saved. Send a test to check them.")
                )
                return redirect("dashboard:mail_settings")
        return self.render_to_response(self.get_context_data(form=form))


class MailTestView(OwnerRequiredMixin, View):
    """Send a test e-mail now, on the saved settings, and say how it went."""

    def post(self, request, *args, **kwargs):
        form = TestEmailForm(request.POST)
        if not form.is_valid():
            messages.error(request, gettext("Enter the address to send the test e-mail to."))
            return redirect("dashboard:mail_settings")
        try:
            row = services.mail_test_send(to=form.cleaned_data["to"], actor=request_actor(request))
        except (DomainError, ValidationError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
            return redirect("dashboard:mail_settings")
        if row.status == OutgoingEmail.Status.SENT:
            messages.success(
                request,
                gettext("The test e-mail was sent to %(address)s (%(transport)s).")
                % {"address": form.cleaned_data["to"], "transport": row.transport},
            )
        else:
            messages.error(
                request,
                gettext("The test e-mail could not be sent: %(error)s") % {"error": row.last_error},
            )
        return redirect("dashboard:mail_settings")


# --------------------------------------------------------------------------------------
# The e-mail log


class EmailLogFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="by_text", label=gettext_lazy("Recipient or subject"))
    status = django_filters.ChoiceFilter(
        choices=OutgoingEmail.Status.choices,
        label=gettext_lazy("Status"),
        empty_label=gettext_lazy("Any status"),
    )
    template_key = django_filters.ChoiceFilter(
        label=gettext_lazy("E-mail"), empty_label=gettext_lazy("Any e-mail")
    )
    customer = django_filters.NumberFilter(field_name="customer_id", widget=forms.HiddenInput)

    class Meta:
        model = OutgoingEmail
        fields = ["search", "status", "template_key", "customer"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["template_key"].extra["choices"] = [
            (key, key.replace("_", " ").capitalize()) for key in selectors.template_keys()
        ]

    def by_text(self, queryset, name, value):
        text = value.strip()
        if not text:
            return queryset
        return queryset.filter(
            Q(subject__icontains=text) | Q(to__icontains=text) | Q(cc__icontains=text)
        )


STATUS_BADGES = {
    OutgoingEmail.Status.SENT: "badge-active",
    OutgoingEmail.Status.QUEUED: "badge-info",
    OutgoingEmail.Status.FAILED: "badge-danger",
}


class EmailLogTable(tables.Table):
    created_at = tables.DateTimeColumn(
        format="Y-m-d H:i", verbose_name=gettext_lazy("Queued"), attrs={"td": {"class": "nowrap"}}
    )
    to = tables.Column(verbose_name=gettext_lazy("To"), orderable=False, empty_values=())
    subject = tables.Column(verbose_name=gettext_lazy("Subject"))
    status = tables.Column(verbose_name=gettext_lazy("Status"), empty_values=())
    attempts = tables.Column(verbose_name=gettext_lazy("Attempts"), attrs={"td": {"class": "num"}})
    retry = tables.TemplateColumn(
        template_name="dashboard/_mail_retry.html",
        verbose_name="",
        orderable=False,
        empty_values=(),
    )

    class Meta:
        model = OutgoingEmail
        fields = ["created_at", "to", "subject", "status", "attempts", "retry"]
        order_by = "-created_at"
        empty_text = gettext_lazy("No e-mail matches these filters.")
        attrs = {"class": "table"}

    def render_to(self, record):
        return record.recipients_label or "—"

    def render_status(self, record):
        badge = format_html(
            '<span class="badge {}">{}</span>',
            STATUS_BADGES.get(record.status, "badge-neutral"),
            record.get_status_display(),
        )
        if record.status == OutgoingEmail.Status.SENT:
            return badge
        if record.next_attempt_at is not None:
            note = gettext("next try %(time)s") % {
                "time": f"{timezone.localtime(record.next_attempt_at):%Y-%m-%d %H:%M}"
            }
        else:
            note = gettext("no more automatic tries")
        error = record.last_error or note
        return format_html('{} <span class="muted">{}</span>', badge, error)


class EmailLogView(StaffRequiredMixin, TemplateView):
    """Every e-mail the instance recorded, for every staff member."""

    template_name = "dashboard/mail_log.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = EmailLogFilter(self.request.GET or None, queryset=selectors.email_list())
        table = EmailLogTable(filterset.qs)
        RequestConfig(self.request, paginate={"per_page": 50}).configure(table)
        context.update(filter=filterset, table=table, any_emails=OutgoingEmail.objects.exists())
        return context


class EmailRetryView(StaffRequiredMixin, View):
    """Send a failed e-mail again now (it goes to the same people with the same text)."""

    def post(self, request, pk: int):
        try:
            email = selectors.get_email_for(request.user, pk)
        except OutgoingEmail.DoesNotExist:
            messages.error(request, gettext("That e-mail is not in this instance's log."))
            return redirect("dashboard:mail_log")
        try:
            services.email_retry(email=email, actor=request_actor(request))
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, gettext("“%(subject)s” is being sent again.") % {"subject": email.subject}
            )
        back = request.POST.get("next", "")
        # Only back to a page of this staff area (never an address the form could name).
        return redirect(back if back.startswith("/staff/") else "dashboard:mail_log")
