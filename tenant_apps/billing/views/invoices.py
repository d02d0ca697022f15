"""Staff screens of invoices and credit notes: the list, a new draft, one document with the
actions its state allows (lines, issue, delete, void, payment, credit, credit note), its PDF.

Reading is open to every staff role; every action needs `can_bill` (owner, administrator,
billing). Each action calls one service with the signed-in user as its actor and turns the
service's errors into field errors or messages.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from tenant_apps.accounts.permissions import BillingStaffMixin, BillingWriteMixin
from tenant_apps.instance.audit import event_label
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.forms import form_add_service_errors as apply_service_errors
from tenant_apps.instance.money import ZERO, format_money
from tenant_apps.instance.selectors import audit_events_for, issuer_identity_get

from .. import services
from ..forms import (
    ApplyCreditForm,
    CreditNoteForm,
    InvoiceCreateForm,
    InvoiceLineForm,
    LineFormSet,
    PaymentForm,
    VoidForm,
    currency_codes,
)
from ..issuer import issuer_missing_sentence
from ..models import Invoice
from ..selectors import invoice_credit_remaining, invoice_list, invoice_summary, with_balance
from ..tables import InvoiceFilter, InvoiceTable, customer_url
from ..tax_evidence import evidence_rows, invoice_tax_evidence
from .common import document_page_context, invoice_or_404, optional_url, pdf_response

# The History card shows the latest events; the full trail is in the audit log.
HISTORY_LENGTH = 20


class InvoiceListView(BillingStaffMixin, TemplateView):
    template_name = "billing/invoice_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = InvoiceFilter(self.request.GET or None, queryset=with_balance(invoice_list()))
        table = InvoiceTable(filterset.qs)
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        summary = invoice_summary()
        identity = issuer_identity_get()
        context.update(
            zero=format_money(ZERO, identity.currency if identity else "EUR"),
            filter=filterset,
            table=table,
            any_invoices=Invoice.objects.exists(),
            drafts=summary["drafts"],
            outstanding=[
                {"count": row["count"], "amount": format_money(row["amount"], row["currency"])}
                for row in summary["outstanding"]
            ],
            overdue=[
                {"count": row["count"], "amount": format_money(row["amount"], row["currency"])}
                for row in summary["overdue"]
            ],
            can_bill=self.user_can_bill(),
            issuer_missing=issuer_missing_sentence() if self.user_can_bill() else "",
        )
        return context


class InvoiceCreateView(BillingWriteMixin, View):
    """A draft with its first lines; it stays editable until it is issued."""

    template_name = "billing/invoice_create.html"

    def render_page(self, form, formset):
        return render(
            self.request,
            self.template_name,
            {
                "form": form,
                "formset": formset,
                "currency_codes": currency_codes(),
                "has_customers": form.fields["customer"].queryset.exists(),
                "customer_create_url": optional_url("clients:customer_create"),
            },
        )

    def get(self, request):
        initial = {}
        if request.GET.get("customer", "").isdecimal():
            initial["customer"] = int(request.GET["customer"])
        return self.render_page(InvoiceCreateForm(initial=initial), LineFormSet(prefix="lines"))

    def post(self, request):
        form = InvoiceCreateForm(request.POST)
        formset = LineFormSet(request.POST, prefix="lines")
        if not (form.is_valid() and formset.is_valid()):
            return self.render_page(form, formset)
        try:
            invoice = services.invoice_create_draft(
                customer=form.cleaned_data["customer"],
                currency=form.cleaned_data["currency"] or None,
                notes=form.cleaned_data["notes"],
                lines=formset.lines(),
                created_by=request.user,
                actor=request.user,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.render_page(form, formset)
        messages.success(
            request,
            _("Draft #%(invoice_id)s created. Check it, then issue it.")
            % {"invoice_id": invoice.pk},
        )
        return redirect("billing:invoice_detail", pk=invoice.pk)


def invoice_history(invoice: Invoice) -> list[dict]:
    """The document's latest events from the instance's audit trail, newest first."""
    return [
        {
            "at": event.created_at,
            "label": event_label(event.action),
            "actor": event.actor_label or "system",
        }
        for event in audit_events_for(invoice, limit=HISTORY_LENGTH)
    ]


class InvoiceDetailView(BillingStaffMixin, View):
    template_name = "billing/invoice_detail.html"

    def get(self, request, pk: int):
        return self.render_detail(invoice_or_404(request, pk))

    def render_detail(self, invoice: Invoice, *, status: int = 200, **forms):
        can_write = self.user_can_bill()
        is_invoice = invoice.kind == Invoice.Kind.INVOICE
        open_statuses = (Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID)
        is_open = is_invoice and invoice.status in open_statuses
        credit_remaining = (
            invoice_credit_remaining(invoice)
            if is_invoice and invoice.status in (*open_statuses, Invoice.Status.PAID)
            else ZERO
        )
        customer = invoice.customer
        context = {
            **document_page_context(invoice),
            # Resolved here, not in the template (templates make no queries).
            "created_by": invoice.created_by,
            "late_fee_invoice": invoice.late_fee_invoice,
            "billing_run": invoice.billing_run,
            "customer": customer,
            "customer_url": customer_url(customer.pk),
            "customer_credit": format_money(customer.credit_balance, customer.currency),
            "customer_has_credit": customer.credit_balance > 0,
            "payments": [
                {
                    "payment": allocation.payment,
                    "amount": format_money(allocation.payment.amount, invoice.currency),
                    "applied": format_money(allocation.amount, invoice.currency),
                    "refunded": format_money(allocation.refunded, invoice.currency)
                    if allocation.refunded
                    else "",
                    "to_credit": allocation.payment.amount > allocation.payment.applied_amount,
                }
                for allocation in invoice.allocations.select_related("payment__created_by")
            ],
            "credit_notes": [
                {"note": note, "total": format_money(note.total, note.currency)}
                for note in invoice.credit_notes.all()
            ],
            "history": invoice_history(invoice),
            "tax_evidence": _evidence_context(invoice),
            # Said on the page before anyone presses Issue (drafts, credit notes).
            "issuer_missing": issuer_missing_sentence()
            if can_write and (invoice.is_editable or credit_remaining > 0)
            else "",
            "can_bill": can_write,
            "can_edit": can_write and invoice.is_editable,
            "can_pay": can_write and is_open,
            "can_void": can_write
            and services.billing_settings_get().void_issued_invoices
            and is_open
            and invoice.amount_paid == 0
            and invoice.amount_credited == 0,
            "can_credit": can_write and credit_remaining > 0,
            "credit_remaining": format_money(credit_remaining, invoice.currency),
            "line_form": forms.get("line_form") or InvoiceLineForm(prefix="line"),
            "payment_form": forms.get("payment_form")
            or PaymentForm(prefix="payment", initial={"amount": invoice.amount_due or None}),
            "apply_credit_form": forms.get("apply_credit_form") or ApplyCreditForm(prefix="credit"),
            "void_form": forms.get("void_form") or VoidForm(prefix="void"),
            "credit_note_form": forms.get("credit_note_form")
            or CreditNoteForm(prefix="cn", invoice=invoice),
            "open_form": forms.get("open_form", ""),
        }
        return render(self.request, self.template_name, context, status=status)


def _evidence_context(invoice: Invoice) -> dict | None:
    """The "Tax evidence" panel of an issued document: what its treatment relied on."""
    evidence = invoice_tax_evidence(invoice)
    if evidence is None:
        return None
    return {"summary": evidence.get("summary", ""), "rows": evidence_rows(evidence)}


class InvoiceActionView(InvoiceDetailView):
    """POST-only actions on one invoice; each redirects back with a message.

    Input the form rejects re-renders the invoice page with the errors on the fields.
    """

    http_method_names = ["post"]
    action = ""

    def post(self, request, pk: int):
        self.require_billing()
        invoice = invoice_or_404(request, pk)
        handler = getattr(self, f"do_{self.action}")
        try:
            response = handler(invoice)
        except DomainError as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            if response is not None:
                return response
        return redirect("billing:invoice_detail", pk=invoice.pk)

    def invalid(self, invoice: Invoice, **forms):
        # Reload: the handler's failed service call may have left the instance half-changed.
        return self.render_detail(invoice_or_404(self.request, invoice.pk), **forms)

    def do_add_line(self, invoice):
        form = InvoiceLineForm(self.request.POST, prefix="line")
        if not form.is_valid():
            return self.invalid(invoice, line_form=form, open_form="line")
        try:
            services.invoice_line_add(invoice=invoice, line=form.line(), actor=self.request.user)
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.invalid(invoice, line_form=form, open_form="line")
        messages.success(
            self.request,
            _("Line “%(description)s” added.") % {"description": form.cleaned_data["description"]},
        )
        return None

    def do_remove_line(self, invoice):
        line_id = self.request.POST.get("line", "")
        if not line_id.isdecimal():
            raise ValidationError(_("Choose a line to remove."))
        services.invoice_line_remove(invoice=invoice, line_id=int(line_id), actor=self.request.user)
        messages.success(self.request, _("Line removed."))
        return None

    def do_issue(self, invoice):
        was_reverse_charge = invoice.tax_treatment == Invoice.TaxTreatment.REVERSE_CHARGE
        issued = services.invoice_issue(invoice=invoice, actor=self.request.user)
        messages.success(
            self.request,
            _(
                "%(kind)s %(number)s issued. Its PDF is prepared and e-mailed to the "
                "customer in the background."
            )
            % {"kind": issued.get_kind_display(), "number": issued.number},
        )
        if was_reverse_charge and issued.tax_treatment != Invoice.TaxTreatment.REVERSE_CHARGE:
            # VIES, asked again at issue, no longer confirms the customer's VAT id.
            evidence = invoice_tax_evidence(issued) or {}
            messages.warning(
                self.request,
                " ".join([_("Not reverse charged."), evidence.get("summary", "")]).strip(),
            )
        return None

    def do_delete(self, invoice):
        label = str(invoice)
        services.invoice_draft_delete(invoice=invoice, actor=self.request.user)
        messages.success(self.request, _("%(label)s deleted.") % {"label": label})
        return redirect("billing:invoice_list")

    def do_void(self, invoice):
        form = VoidForm(self.request.POST, prefix="void")
        valid = form.is_valid()
        voided = services.invoice_void(
            invoice=invoice,
            reason=form.cleaned_data["reason"] if valid else "",
            waive_periods=bool(valid and form.cleaned_data["waive_periods"]),
            actor=self.request.user,
        )
        messages.success(
            self.request,
            _("Invoice %(number)s is void; nothing is owed on it.") % {"number": voided.number},
        )
        return None

    def do_payment(self, invoice):
        form = PaymentForm(self.request.POST, prefix="payment")
        if not form.is_valid():
            return self.invalid(invoice, payment_form=form, open_form="payment")
        try:
            payment = services.payment_record(
                customer=invoice.customer,
                invoice=invoice,
                created_by=self.request.user,
                actor=self.request.user,
                **form.arguments(),
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.invalid(invoice, payment_form=form, open_form="payment")
        text = _("Payment of %(amount)s recorded.") % {
            "amount": format_money(payment.amount, payment.currency)
        }
        extra = payment.amount - payment.applied_amount
        if extra > 0:
            text += " " + _("%(amount)s more than was due went to %(customer)s's credit.") % {
                "amount": format_money(extra, payment.currency),
                "customer": invoice.customer,
            }
        messages.success(self.request, text)
        return None

    def do_apply_credit(self, invoice):
        form = ApplyCreditForm(self.request.POST, prefix="credit")
        if not form.is_valid():
            return self.invalid(invoice, apply_credit_form=form, open_form="credit")
        try:
            applied = services.invoice_apply_credit(
                invoice=invoice, amount=form.cleaned_data["amount"], actor=self.request.user
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.invalid(invoice, apply_credit_form=form, open_form="credit")
        messages.success(
            self.request,
            _("%(applied)s of credit applied.")
            % {"applied": format_money(applied, invoice.currency)},
        )
        return None

    def do_credit_note(self, invoice):
        form = CreditNoteForm(self.request.POST, prefix="cn", invoice=invoice)
        if not form.is_valid():
            return self.invalid(invoice, credit_note_form=form, open_form="credit_note")
        try:
            note = services.credit_note_create(
                invoice=invoice,
                reason=form.cleaned_data["reason"],
                lines=form.service_lines(),
                waive_periods=form.cleaned_data["waive_periods"],
                actor=self.request.user,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.invalid(invoice, credit_note_form=form, open_form="credit_note")
        messages.success(
            self.request,
            _("Credit note %(number)s issued for %(total)s.")
            % {"number": note.number, "total": format_money(note.total, note.currency)},
        )
        return redirect("billing:invoice_detail", pk=note.pk)


class InvoicePdfView(BillingStaffMixin, View):
    def get(self, request, pk: int):
        invoice = invoice_or_404(request, pk)
        return pdf_response(
            request, invoice, back_url=reverse("billing:invoice_detail", args=[invoice.pk])
        )
