"""Staff screens of the helpdesk: the queue, opening a ticket for a customer, the ticket page
(conversation, reply/note form, side-panel actions), attachments, departments, canned replies.

Views fetch through the permission-checking selectors, call one service per action and turn
its errors into form errors or messages; actions are POST-only and redirect back.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django_tables2 import RequestConfig

from tenant_apps.accounts.permissions import StaffRequiredMixin
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.forms import form_add_service_errors as apply_service_errors

from . import ports, services
from .forms import (
    AssignForm,
    CannedReplyForm,
    DepartmentForm,
    DepartmentMoveForm,
    PriorityForm,
    ReplyForm,
    StaffTicketForm,
)
from .models import Attachment, CannedReply, Department, Ticket
from .selectors import (
    canned_reply_list,
    department_list,
    get_attachment_for,
    get_canned_reply_for,
    get_department_for,
    get_ticket_for,
    queue_counts,
    ticket_messages_for,
)
from .tables import CannedReplyTable, DepartmentTable, TicketFilter, TicketTable, minutes_label

NOT_MANAGER = gettext_lazy("Only the owner or an administrator can change departments.")

# Status buttons of the side panel: target → label.
TRANSITION_LABELS = {
    Ticket.Status.AWAITING_STAFF: gettext_lazy("Awaiting staff"),
    Ticket.Status.AWAITING_CUSTOMER: gettext_lazy("Awaiting customer"),
    Ticket.Status.ON_HOLD: gettext_lazy("Put on hold"),
    Ticket.Status.CLOSED: gettext_lazy("Close ticket"),
    Ticket.Status.OPEN: gettext_lazy("Reopen"),
}


def ticket_or_404(request, pk) -> Ticket:
    try:
        return get_ticket_for(request.user, pk)
    except Ticket.DoesNotExist as exc:
        raise Http404("No such ticket.") from exc


def attachment_response(attachment: Attachment) -> FileResponse:
    """Always a download with the type we sniffed at upload, never rendered inline."""
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --------------------------------------------------------------------------------------
# Queue and tickets


class QueueView(StaffRequiredMixin, View):
    template_name = "helpdesk/queue.html"

    def get(self, request):
        filterset = TicketFilter(
            request.GET or None, queryset=Ticket.objects.none(), user=request.user
        )
        table = TicketTable(filterset.qs)
        RequestConfig(request, paginate={"per_page": 25}).configure(table)
        return render(
            request,
            self.template_name,
            {
                "filter": filterset,
                "table": table,
                "counts": queue_counts(request.user),
                "any_tickets": Ticket.objects.exists(),
            },
        )


class TicketCreateView(StaffRequiredMixin, View):
    template_name = "helpdesk/ticket_create.html"

    def get(self, request):
        initial = {"assignee": request.user.pk}
        if request.GET.get("customer", "").isdecimal():
            initial["customer"] = int(request.GET["customer"])
        return render(request, self.template_name, {"form": StaffTicketForm(initial=initial)})

    def post(self, request):
        form = StaffTicketForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            customer = data["customer"]
            try:
                ticket = services.ticket_open(
                    subject=data["subject"],
                    body=data["body"],
                    department=data["department"],
                    customer=customer,
                    requester=customer.user,
                    opened_by=request.user,
                    priority=data["priority"],
                    source=Ticket.Source.STAFF,
                    attachments=data["attachments"],
                )
                if data["assignee"]:
                    services.ticket_assign(
                        ticket=ticket, assignee=data["assignee"], actor=request.user
                    )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Ticket %(number)s opened for %(customer)s.")
                    % {"number": ticket.number, "customer": customer},
                )
                return redirect("helpdesk:ticket_detail", pk=ticket.pk)
        return render(request, self.template_name, {"form": form}, status=400)


def _sla_rows(ticket: Ticket) -> list[dict]:
    rows = []
    if ticket.first_response_due_at:
        rows.append(
            {
                "label": _("First reply"),
                "due": ticket.first_response_due_at,
                "done": ticket.first_response_at,
                "breached": ticket.first_response_breached,
            }
        )
    if ticket.resolution_due_at:
        rows.append(
            {
                "label": _("Resolution"),
                "due": ticket.resolution_due_at,
                "done": ticket.closed_at,
                "breached": ticket.resolution_breached,
            }
        )
    return rows


def reply_audience(ticket: Ticket) -> dict[str, str]:
    """Who a staff reply reaches, said the same way in the reply box and after sending: an
    escalation from a reseller is answered to that reseller's staff, never to its customer."""
    if ticket.source == Ticket.Source.UPSTREAM:
        name = ticket.customer.display_name if ticket.customer else _("the reseller")
        return {
            "hint": _(
                "%(name)s's staff get this in their ticket, as a note their customer does not see."
            )
            % {"name": name},
            "sent": _("Reply sent to %(name)s's staff.") % {"name": name},
        }
    return {
        "hint": _("The customer gets this by e-mail and in their portal."),
        "sent": _("Reply sent to the customer."),
    }


class TicketDetailView(StaffRequiredMixin, View):
    template_name = "helpdesk/ticket_detail.html"

    def get(self, request, pk: int):
        return self.render_page(ticket_or_404(request, pk))

    def render_page(self, ticket: Ticket, *, reply_form=None, status: int = 200):
        canned = list(canned_reply_list(department=ticket.department))
        allowed = Ticket.pipeline.targets(ticket.status)
        context = {
            "ticket": ticket,
            "conversation": ticket_messages_for(self.request.user, ticket),
            "reply_form": reply_form or ReplyForm(),
            "canned_replies": canned,
            "transitions": [
                {"to": to, "label": TRANSITION_LABELS[to]}
                for to in TRANSITION_LABELS
                if to in allowed and not (to == Ticket.Status.AWAITING_STAFF and ticket.is_closed)
            ],
            "assign_form": AssignForm(initial={"assignee": ticket.assignee_id}),
            "priority_form": PriorityForm(initial={"priority": ticket.priority}),
            "department_form": DepartmentMoveForm(initial={"department": ticket.department_id}),
            "sla_rows": _sla_rows(ticket),
            "reply_audience": reply_audience(ticket),
            # The upstream bridge's side of this ticket (escalate, reply upstream, origin).
            "escalation": ports.escalation_panel(self.request, ticket),
            "department_targets": {
                "first": minutes_label(ticket.department.first_response_minutes),
                "resolution": minutes_label(ticket.department.resolution_minutes),
            },
        }
        return render(self.request, self.template_name, context, status=status)

    def post(self, request, pk: int):
        """Reply to the customer, or add an internal note."""
        ticket = ticket_or_404(request, pk)
        form = ReplyForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render_page(ticket, reply_form=form, status=400)
        data = form.cleaned_data
        try:
            services.ticket_reply(
                ticket=ticket,
                author=request.user,
                body=data["body"],
                attachments=data["attachments"],
                internal=data["internal"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.render_page(ticket_or_404(request, pk), reply_form=form, status=400)
        except DomainError as exc:
            messages.error(request, str(exc))
            return redirect("helpdesk:ticket_detail", pk=ticket.pk)
        messages.success(
            request,
            _("Internal note added.") if data["internal"] else reply_audience(ticket)["sent"],
        )
        return redirect(reverse("helpdesk:ticket_detail", args=[ticket.pk]) + "#latest")


class TicketActionView(StaffRequiredMixin, View):
    """POST-only side-panel actions; errors come back as messages (409s stay readable)."""

    http_method_names = ["post"]
    action = ""

    def post(self, request, pk: int):
        ticket = ticket_or_404(request, pk)
        try:
            text = getattr(self, f"do_{self.action}")(ticket)
        except DomainError as exc:
            messages.error(request, str(exc))
            status = getattr(exc, "status_code", 400)
            if request.headers.get("HX-Request"):
                return render(request, "components/messages.html", status=status)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, text)
        return redirect("helpdesk:ticket_detail", pk=ticket.pk)

    def do_transition(self, ticket: Ticket) -> str:
        to = self.request.POST.get("to", "")
        services.ticket_transition(ticket=ticket, to=to, actor=self.request.user)
        return _("Ticket %(number)s is now %(status)s.") % {
            "number": ticket.number,
            "status": ticket.get_status_display().lower(),
        }

    def do_assign(self, ticket: Ticket) -> str:
        form = AssignForm(self.request.POST)
        if not form.is_valid():
            raise ValidationError(_("Choose a staff member."))
        assignee = form.cleaned_data["assignee"]
        services.ticket_assign(ticket=ticket, assignee=assignee, actor=self.request.user)
        return (
            (_("Assigned to %(assignee)s.") % {"assignee": assignee})
            if assignee
            else _("Ticket unassigned.")
        )

    def do_priority(self, ticket: Ticket) -> str:
        form = PriorityForm(self.request.POST)
        if not form.is_valid():
            raise ValidationError(_("Choose a priority."))
        services.ticket_set_priority(
            ticket=ticket, priority=form.cleaned_data["priority"], actor=self.request.user
        )
        return _("Priority set to %(priority)s.") % {
            "priority": ticket.get_priority_display().lower()
        }

    def do_department(self, ticket: Ticket) -> str:
        form = DepartmentMoveForm(self.request.POST)
        if not form.is_valid():
            raise ValidationError(_("Choose a department."))
        services.ticket_set_department(
            ticket=ticket, department=form.cleaned_data["department"], actor=self.request.user
        )
        return _("Moved to %(department)s; its SLA targets now apply.") % {
            "department": ticket.department
        }


class AttachmentView(StaffRequiredMixin, View):
    def get(self, request, pk: int):
        try:
            attachment = get_attachment_for(request.user, pk)
        except Attachment.DoesNotExist as exc:
            raise Http404("No such attachment.") from exc
        return attachment_response(attachment)


# --------------------------------------------------------------------------------------
# Departments


class ManagerMixin(StaffRequiredMixin):
    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_instance_staff and not user.can_manage_instance:
            raise PermissionDenied(NOT_MANAGER)
        return super().dispatch(request, *args, **kwargs)


class DepartmentListView(StaffRequiredMixin, View):
    def get(self, request):
        table = DepartmentTable(department_list())
        RequestConfig(request, paginate=False).configure(table)
        return render(
            request,
            "helpdesk/department_list.html",
            {"table": table, "can_manage": request.user.can_manage_instance},
        )


class DepartmentFormView(ManagerMixin, View):
    template_name = "helpdesk/department_form.html"

    def _department(self, pk):
        if pk is None:
            return None
        try:
            return get_department_for(self.request.user, pk)
        except Department.DoesNotExist as exc:
            raise Http404("No such department.") from exc

    def get(self, request, pk: int | None = None):
        department = self._department(pk)
        initial = (
            {
                "name": department.name,
                "first_response_minutes": department.first_response_minutes,
                "resolution_minutes": department.resolution_minutes,
                "is_active": department.is_active,
            }
            if department
            else None
        )
        form = DepartmentForm(initial=initial)
        return render(request, self.template_name, {"form": form, "department": department})

    def post(self, request, pk: int | None = None):
        department = self._department(pk)
        form = DepartmentForm(request.POST)
        if form.is_valid():
            try:
                if department is None:
                    department = services.department_create(**form.cleaned_data, actor=request.user)
                else:
                    services.department_update(
                        department=department, **form.cleaned_data, actor=request.user
                    )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(
                    request, _("Department “%(department)s” saved.") % {"department": department}
                )
                return redirect("helpdesk:department_list")
        return render(
            request, self.template_name, {"form": form, "department": department}, status=400
        )


# --------------------------------------------------------------------------------------
# Canned replies


class CannedListView(StaffRequiredMixin, View):
    def get(self, request):
        table = CannedReplyTable(canned_reply_list())
        RequestConfig(request, paginate={"per_page": 50}).configure(table)
        return render(request, "helpdesk/canned_list.html", {"table": table})


class CannedFormView(StaffRequiredMixin, View):
    template_name = "helpdesk/canned_form.html"

    def _reply(self, pk):
        if pk is None:
            return None
        try:
            return get_canned_reply_for(self.request.user, pk)
        except CannedReply.DoesNotExist as exc:
            raise Http404("No such canned reply.") from exc

    def get(self, request, pk: int | None = None):
        reply = self._reply(pk)
        form = CannedReplyForm.for_instance(reply) if reply else CannedReplyForm()
        return render(request, self.template_name, {"form": form, "reply": reply})

    def post(self, request, pk: int | None = None):
        reply = self._reply(pk)
        form = CannedReplyForm(request.POST)
        if form.is_valid():
            try:
                if reply is None:
                    reply = services.canned_reply_create(**form.cleaned_data, actor=request.user)
                else:
                    services.canned_reply_update(
                        canned_reply=reply, **form.cleaned_data, actor=request.user
                    )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Canned reply “%(reply)s” saved.") % {"reply": reply})
                return redirect("helpdesk:canned_list")
        return render(request, self.template_name, {"form": form, "reply": reply}, status=400)


class CannedDeleteView(StaffRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk: int):
        try:
            reply = get_canned_reply_for(request.user, pk)
        except CannedReply.DoesNotExist as exc:
            raise Http404("No such canned reply.") from exc
        title = reply.title
        services.canned_reply_delete(canned_reply=reply, actor=request.user)
        messages.success(request, _("Canned reply “%(title)s” deleted.") % {"title": title})
        return redirect("helpdesk:canned_list")
