"""Helpdesk forms: opening and answering tickets, the side-panel actions, departments and
canned replies. Forms check shape; the services check meaning.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenant_apps.clients.models import Customer

from .attachments import allowed_extensions, max_bytes
from .models import CannedReply, Department, Ticket
from .selectors import portal_departments, staff_members


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; each is checked by the services (size, type, content)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


def _attachment_help() -> str:
    return _("Up to %(value)s MB each: %(allowed_extensions)s.") % {
        "value": max_bytes() // (1024 * 1024),
        "allowed_extensions": ", ".join(allowed_extensions()),
    }


class PortalTicketForm(forms.Form):
    subject = forms.CharField(max_length=200, label=gettext_lazy("Subject"))
    department = forms.ModelChoiceField(
        queryset=Department.objects.none(), empty_label=None, label=gettext_lazy("Department")
    )
    priority = forms.ChoiceField(
        choices=Ticket.Priority.choices, initial="normal", label=gettext_lazy("Priority")
    )
    body = forms.CharField(
        label=gettext_lazy("How can we help?"),
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=50000,
    )
    attachments = MultipleFileField(label=gettext_lazy("Attachments"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = portal_departments()
        self.fields["attachments"].help_text = _attachment_help()


class StaffTicketForm(PortalTicketForm):
    customer = forms.ModelChoiceField(
        queryset=Customer.objects.filter(status=Customer.Status.ACTIVE),
        help_text=gettext_lazy("The customer this ticket is for; they see it in their portal"),
        label=gettext_lazy("Customer"),
    )
    assignee = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label=gettext_lazy("Unassigned"),
        label=gettext_lazy("Assignee"),
    )
    body = forms.CharField(
        label=gettext_lazy("First message (the customer sees it)"),
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=50000,
    )
    field_order = ["customer", "subject", "department", "priority", "assignee", "body"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.filter(is_active=True)
        self.fields["assignee"].queryset = staff_members()
        self.order_fields(self.field_order)


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=gettext_lazy("Message"), widget=forms.Textarea(attrs={"rows": 6}), max_length=50000
    )
    internal = forms.BooleanField(
        required=False, label=gettext_lazy("Internal note (staff only, the customer never sees it)")
    )
    attachments = MultipleFileField(label=gettext_lazy("Attachments"))

    def __init__(self, *args, staff: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attachments"].help_text = _attachment_help()
        if not staff:
            del self.fields["internal"]
            self.fields["body"].label = _("Your reply")


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label=gettext_lazy("Unassigned"),
        label=gettext_lazy("Assignee"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = staff_members()


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(choices=Ticket.Priority.choices, label=gettext_lazy("Priority"))


class DepartmentMoveForm(forms.Form):
    department = forms.ModelChoiceField(
        queryset=Department.objects.none(), empty_label=None, label=gettext_lazy("Department")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.filter(is_active=True)


class DepartmentForm(forms.Form):
    name = forms.CharField(max_length=100, label=gettext_lazy("Name"))
    first_response_minutes = forms.IntegerField(
        min_value=1, label=gettext_lazy("First reply target (minutes)"), initial=240
    )
    resolution_minutes = forms.IntegerField(
        min_value=1, label=gettext_lazy("Resolution target (minutes)"), initial=4320
    )
    is_active = forms.BooleanField(
        required=False, initial=True, label=gettext_lazy("Takes new tickets")
    )


class CannedReplyForm(forms.Form):
    title = forms.CharField(max_length=120, label=gettext_lazy("Title"))
    department = forms.ModelChoiceField(
        queryset=Department.objects.all(),
        required=False,
        empty_label=gettext_lazy("All departments"),
        label=gettext_lazy("Department"),
    )
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), label=gettext_lazy("Body"))

    @classmethod
    def for_instance(cls, reply: CannedReply, data=None):
        initial = {"title": reply.title, "department": reply.department, "body": reply.body}
        return cls(data, initial=initial)
