"""Customer portal pages of the helpdesk: the customer's own tickets, opening one, the
conversation (visible messages only), replying, closing and reopening, attachments.

Everything goes through `customer_ticket_list` / `get_ticket_for` / `ticket_messages_for`:
another customer's ticket is a 404, and staff-only messages never reach the template.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django_tables2 import RequestConfig

from tenant_apps.accounts.permissions import CustomerRequiredMixin
from tenant_apps.clients.selectors import customer_for_user
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.forms import form_add_service_errors as apply_service_errors

from . import services
from .forms import PortalTicketForm, ReplyForm
from .models import Attachment, Ticket
from .selectors import customer_ticket_list, get_attachment_for, get_ticket_for, ticket_messages_for
from .tables import PortalTicketTable
from .views import attachment_response


def own_ticket_or_404(request, pk) -> Ticket:
    try:
        return get_ticket_for(request.user, pk)
    except Ticket.DoesNotExist as exc:
        raise Http404("No such ticket.") from exc


class PortalTicketListView(CustomerRequiredMixin, View):
    def get(self, request):
        tickets = customer_ticket_list(request.user)
        table = PortalTicketTable(tickets)
        RequestConfig(request, paginate={"per_page": 25}).configure(table)
        return render(
            request,
            "helpdesk/portal/ticket_list.html",
            {
                "table": table,
                "any_tickets": tickets.exists(),
                "waiting_for_you": tickets.filter(status=Ticket.Status.AWAITING_CUSTOMER).count(),
            },
        )


class PortalTicketCreateView(CustomerRequiredMixin, View):
    template_name = "helpdesk/portal/ticket_create.html"

    def get(self, request):
        return render(request, self.template_name, {"form": PortalTicketForm()})

    def post(self, request):
        form = PortalTicketForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                ticket = services.ticket_open(
                    subject=data["subject"],
                    body=data["body"],
                    department=data["department"],
                    customer=customer_for_user(request.user),
                    requester=request.user,
                    priority=data["priority"],
                    source=Ticket.Source.PORTAL,
                    attachments=data["attachments"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Ticket %(number)s opened. We will answer here and by e-mail.")
                    % {"number": ticket.number},
                )
                return redirect("portal_helpdesk:ticket_detail", pk=ticket.pk)
        return render(request, self.template_name, {"form": form}, status=400)


class PortalTicketDetailView(CustomerRequiredMixin, View):
    template_name = "helpdesk/portal/ticket_detail.html"

    def render_page(self, ticket: Ticket, *, form=None, status: int = 200):
        return render(
            self.request,
            self.template_name,
            {
                "ticket": ticket,
                "conversation": ticket_messages_for(self.request.user, ticket),
                "reply_form": form or ReplyForm(staff=False),
            },
            status=status,
        )

    def get(self, request, pk: int):
        return self.render_page(own_ticket_or_404(request, pk))

    def post(self, request, pk: int):
        ticket = own_ticket_or_404(request, pk)
        form = ReplyForm(request.POST, request.FILES, staff=False)
        if not form.is_valid():
            return self.render_page(ticket, form=form, status=400)
        try:
            services.ticket_reply(
                ticket=ticket,
                author=request.user,
                body=form.cleaned_data["body"],
                attachments=form.cleaned_data["attachments"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.render_page(own_ticket_or_404(request, pk), form=form, status=400)
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Reply sent."))
        return redirect(reverse("portal_helpdesk:ticket_detail", args=[ticket.pk]) + "#latest")


class PortalTicketStatusView(CustomerRequiredMixin, View):
    """POST-only: the customer closes or reopens their ticket."""

    http_method_names = ["post"]
    action = "close"

    def post(self, request, pk: int):
        ticket = own_ticket_or_404(request, pk)
        try:
            if self.action == "close":
                services.ticket_close(ticket=ticket, actor=request.user)
                messages.success(
                    request, _("Ticket %(number)s closed. Thank you!") % {"number": ticket.number}
                )
            else:
                services.ticket_reopen(ticket=ticket, actor=request.user)
                messages.success(
                    request, _("Ticket %(number)s reopened.") % {"number": ticket.number}
                )
        except DomainError as exc:
            messages.error(request, str(exc))
        return redirect("portal_helpdesk:ticket_detail", pk=ticket.pk)


class PortalAttachmentView(CustomerRequiredMixin, View):
    def get(self, request, pk: int):
        try:
            attachment = get_attachment_for(request.user, pk)
        except Attachment.DoesNotExist as exc:
            raise Http404("No such attachment.") from exc
        return attachment_response(attachment)
