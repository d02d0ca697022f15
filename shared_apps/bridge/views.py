"""Reseller staff escalate a ticket upstream and write to the operator from their ticket page."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from tenant_apps.accounts.permissions import StaffRequiredMixin
from tenant_apps.helpdesk.models import Ticket
from tenant_apps.instance.errors import DomainError

from . import services


class EscalateForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=gettext_lazy("Note"),
    )
    share_customer_name = forms.BooleanField(
        required=False, label=gettext_lazy("Share customer name")
    )
    share_customer_email = forms.BooleanField(
        required=False, label=gettext_lazy("Share customer email")
    )
    share_service = forms.BooleanField(required=False, label=gettext_lazy("Share service"))
    attachments = forms.TypedMultipleChoiceField(
        required=False, coerce=int, choices=(), label=gettext_lazy("Attachments")
    )

    def __init__(self, *args, attachment_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attachments"].choices = attachment_choices


class UpstreamReplyForm(forms.Form):
    body = forms.CharField(
        max_length=20000, widget=forms.Textarea(attrs={"rows": 4}), label=gettext_lazy("Body")
    )


class ResellerTicketMixin(StaffRequiredMixin):
    """Only staff of a reseller's instance, on a ticket of that instance."""

    def get_ticket(self) -> Ticket:
        if getattr(self.request, "tenant", None) is None or self.request.tenant.is_operator:
            raise Http404("Escalations go from a reseller's instance to its provider.")
        try:
            return Ticket.objects.get(pk=self.kwargs["pk"])
        except Ticket.DoesNotExist as exc:
            raise Http404("No such ticket.") from exc

    def back(self, ticket: Ticket):
        return redirect("helpdesk:ticket_detail", pk=ticket.pk)


class EscalateView(ResellerTicketMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk: int):
        ticket = self.get_ticket()
        choices = [(a.pk, a.original_name) for a in services.ticket_attachments(ticket)]
        form = EscalateForm(request.POST, attachment_choices=choices)
        if not form.is_valid():
            messages.error(request, _("Choose only attachments of this ticket's conversation."))
            return self.back(ticket)
        data = form.cleaned_data
        try:
            services.ticket_escalate(
                reseller_schema=request.tenant.schema_name,
                ticket_id=ticket.pk,
                escalated_by=request.user.email,
                note=data["note"],
                share_customer_name=data["share_customer_name"],
                share_customer_email=data["share_customer_email"],
                share_service=data["share_service"],
                attachment_ids=data["attachments"],
                actor=request.user,
            )
        except (DomainError, ValidationError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        else:
            messages.success(
                request, _("Escalated upstream. Answers will appear here as staff-only notes.")
            )
        return self.back(ticket)


class UpstreamReplyView(ResellerTicketMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk: int):
        ticket = self.get_ticket()
        form = UpstreamReplyForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Write a message for your provider first."))
            return self.back(ticket)
        try:
            services.escalation_reply_upstream(
                reseller_schema=request.tenant.schema_name,
                ticket_id=ticket.pk,
                author=request.user,
                body=form.cleaned_data["body"],
            )
        except (DomainError, ValidationError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        else:
            messages.success(request, _("Sent upstream."))
        return self.back(ticket)
