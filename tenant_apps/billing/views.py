"""Staff screens of billing: invoices and credit notes, payments, credit, settings, tax rates,
e-mail templates and billing runs.

Views stay thin: they fetch through the permission-checking selectors, call one service per
action and turn its errors into field errors or messages. Reading is open to every staff
role; issuing, voiding, crediting and payments need `can_bill` (owner, administrator,
billing); settings, tax rates and e-mail wording need the owner or an administrator.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views import View
from django.views.generic import TemplateView
from django_countries import countries
from django_tables2 import RequestConfig

from config.errors import DomainError
from config.forms import form_add_service_errors as apply_service_errors
from tenant_apps.accounts.permissions import (
    BillingManagerMixin,
    BillingManagerWriteMixin,
    BillingStaffMixin,
    BillingWriteMixin,
)
from tenant_apps.clients.models import Customer
from tenant_apps.clients.selectors import get_customer_for
from tenant_apps.instance import services as instance_services
from tenant_apps.instance.emails import email_template_default
from tenant_apps.instance.models import EmailTemplate
from tenant_apps.instance.money import ZERO, format_money
from tenant_apps.instance.selectors import issuer_identity_get

from . import services
from .forms import (
    ApplyCreditForm,
    BillingSettingsForm,
    CreditNoteForm,
    CustomerCreditForm,
    EmailTemplateForm,
    InvoiceCreateForm,
    InvoiceLineForm,
    LineFormSet,
    PaymentForm,
    PaymentRecordForm,
    TaxRateForm,
    VoidForm,
    currency_codes,
)
from .models import Invoice, TaxRate
from .selectors import (
    customer_credit_entries,
    get_invoice_for,
    get_tax_rate_for,
    invoice_credit_remaining,
    invoice_list,
    invoice_summary,
    open_invoice_q,
    payment_list,
    tax_rate_list,
    with_balance,
)
from .tables import (
    InvoiceFilter,
    InvoiceTable,
    PaymentFilter,
    PaymentTable,
    TaxRateTable,
    customer_url,
    is_overdue,
    status_badge,
)


def invoice_or_404(request, pk) -> Invoice:
    try:
        return get_invoice_for(request.user, pk)
    except Invoice.DoesNotExist as exc:
        raise Http404("No such invoice.") from exc


# --------------------------------------------------------------------------------------
# Presenting one document (shared by the staff page and the customer portal)


def _party(snapshot: dict) -> dict:
    town = " ".join(p for p in (snapshot.get("postal_code"), snapshot.get("city")) if p)
    code = str(snapshot.get("country") or "")
    country = str(countries.name(code) or code) if code else ""
    lines = [
        snapshot.get("address_line1"),
        snapshot.get("address_line2"),
        town,
        snapshot.get("region"),
        country,
    ]
    company = snapshot.get("company_name") or ""
    return {
        # A customer snapshot has name/company_name, an issuer legal/trading name.
        "name": company
        or snapshot.get("name")
        or snapshot.get("trading_name")
        or snapshot.get("legal_name")
        or "",
        "legal_name": snapshot.get("legal_name", ""),
        "attention": snapshot.get("name", "") if company else "",
        "address": [line for line in lines if line],
        "tax_id": snapshot.get("tax_id", ""),
        "registration_number": snapshot.get("registration_number", ""),
        "email": snapshot.get("email", ""),
        "phone": snapshot.get("phone", ""),
        "bank_details": snapshot.get("bank_details", ""),
        "footer": snapshot.get("invoice_footer", ""),
    }


def _issuer_preview() -> dict:
    identity = issuer_identity_get()
    if identity is None:
        return {}
    fields = (
        "legal_name trading_name address_line1 address_line2 postal_code city tax_id "
        "registration_number email phone bank_details invoice_footer"
    ).split()
    return {**{name: getattr(identity, name) for name in fields}, "country": identity.country}


def _quantity(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def document_context(invoice: Invoice) -> dict:
    """The document as it reads: parties, lines, tax breakdown and totals, formatted.

    Issued documents show their frozen snapshots; a draft shows what would be frozen now.
    """

    def money(amount: Decimal) -> str:
        return format_money(amount, invoice.currency)

    issued = invoice.status != Invoice.Status.DRAFT
    issuer = invoice.issuer_snapshot if issued else _issuer_preview()
    customer = invoice.customer_snapshot if issued else invoice.customer.billing_snapshot()
    lines = list(invoice.lines.all())
    taxes: dict[Decimal, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for line in lines:
        taxes[line.tax_rate][0] += line.net_amount
        taxes[line.tax_rate][1] += line.tax_amount
    settled = invoice.amount_paid + invoice.amount_credited
    return {
        "issued": issued,
        "issuer": _party(issuer or {}),
        "has_issuer": bool(issuer),
        "bill_to": _party(customer or {}),
        "lines": [
            {
                "id": line.pk,
                "description": line.description,
                "kind": line.get_kind_display(),
                "period": (line.period_start, line.period_end)
                if line.period_start or line.period_end
                else None,
                "quantity": _quantity(line.quantity),
                "unit_price": money(line.unit_price),
                "tax_rate": f"{_quantity(line.tax_rate)} %",
                "net": money(line.net_amount),
                "tax": money(line.tax_amount),
                "gross": money(line.gross_amount),
            }
            for line in lines
        ],
        "tax_rows": [
            {"rate": f"{_quantity(rate)} %", "base": money(net), "amount": money(tax)}
            for rate, (net, tax) in sorted(taxes.items())
        ],
        "subtotal": money(invoice.subtotal),
        "tax_total": money(invoice.tax_total),
        "total": money(invoice.total),
        "amount_paid": money(invoice.amount_paid),
        "amount_credited": money(invoice.amount_credited),
        "amount_due": money(invoice.amount_due),
        "is_settled": settled > 0,
        "is_invoice": invoice.kind == Invoice.Kind.INVOICE,
        "is_overdue": is_overdue(invoice),
        "status_badge": status_badge(invoice),
        "has_pdf": bool(invoice.pdf),
    }


def pdf_response(request, invoice: Invoice, *, back_url: str):
    """The stored PDF as a download, or a friendly 404 while it is being rendered."""
    storage = invoice.pdf.storage
    if not invoice.pdf or not storage.exists(invoice.pdf.name):
        return render(
            request,
            "billing/pdf_pending.html",
            {
                "invoice": invoice,
                "back_url": back_url,
                "layout": "layouts/portal.html"
                if request.user.is_customer
                else "layouts/staff.html",
            },
            status=404,
        )
    # Numbers may contain "/" (e.g. INV/2026/1): not in a file name.
    filename = f"{invoice.number}.pdf".replace("/", "-").replace("\\", "-")
    return FileResponse(
        invoice.pdf.open("rb"),
        as_attachment=True,
        filename=filename,
        content_type="application/pdf",
    )


# --------------------------------------------------------------------------------------
# Invoices


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
                "customer_create_url": _optional_url("clients:customer_create"),
            },
        )

    def get(self, request):
        initial = {}
        if request.GET.get("customer", "").isdigit():
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
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.render_page(form, formset)
        messages.success(request, f"Draft #{invoice.pk} created. Check it, then issue it.")
        return redirect("billing:invoice_detail", pk=invoice.pk)


def _optional_url(name: str, *args) -> str | None:
    """A link into a sibling app's screens only when that screen exists."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


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
            "invoice": invoice,
            "doc": document_context(invoice),
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
                    "payment": payment,
                    "amount": format_money(payment.amount, payment.currency),
                    "applied": format_money(payment.applied_amount, payment.currency),
                    "to_credit": payment.amount > payment.applied_amount,
                }
                for payment in invoice.payments.select_related("created_by")
            ],
            "credit_notes": [
                {"note": note, "total": format_money(note.total, note.currency)}
                for note in invoice.credit_notes.all()
            ],
            "events": list(invoice.events.all()[:20]),
            "can_bill": can_write,
            "can_edit": can_write and invoice.is_editable,
            "can_pay": can_write and is_open,
            "can_void": can_write
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
            services.invoice_line_add(invoice=invoice, line=form.line())
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.invalid(invoice, line_form=form, open_form="line")
        messages.success(self.request, f"Line “{form.cleaned_data['description']}” added.")
        return None

    def do_remove_line(self, invoice):
        line_id = self.request.POST.get("line", "")
        if not line_id.isdigit():
            raise ValidationError("Choose a line to remove.")
        services.invoice_line_remove(invoice=invoice, line_id=int(line_id))
        messages.success(self.request, "Line removed.")
        return None

    def do_issue(self, invoice):
        issued = services.invoice_issue(actor=self.request.user.email, invoice=invoice)
        messages.success(
            self.request,
            f"{issued.get_kind_display()} {issued.number} issued. Its PDF is prepared and "
            "e-mailed to the customer in the background.",
        )
        return None

    def do_delete(self, invoice):
        label = str(invoice)
        services.invoice_draft_delete(invoice=invoice)
        messages.success(self.request, f"{label} deleted.")
        return redirect("billing:invoice_list")

    def do_void(self, invoice):
        form = VoidForm(self.request.POST, prefix="void")
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        voided = services.invoice_void(
            actor=self.request.user.email, invoice=invoice, reason=reason
        )
        messages.success(self.request, f"Invoice {voided.number} is void; nothing is owed on it.")
        return None

    def do_payment(self, invoice):
        form = PaymentForm(self.request.POST, prefix="payment")
        if not form.is_valid():
            return self.invalid(invoice, payment_form=form, open_form="payment")
        try:
            payment = services.payment_record(
                actor=self.request.user.email,
                customer=invoice.customer,
                invoice=invoice,
                created_by=self.request.user,
                **form.arguments(),
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.invalid(invoice, payment_form=form, open_form="payment")
        text = f"Payment of {format_money(payment.amount, payment.currency)} recorded."
        extra = payment.amount - payment.applied_amount
        if extra > 0:
            text += (
                f" {format_money(extra, payment.currency)} more than was due went to "
                f"{invoice.customer}'s credit."
            )
        messages.success(self.request, text)
        return None

    def do_apply_credit(self, invoice):
        form = ApplyCreditForm(self.request.POST, prefix="credit")
        if not form.is_valid():
            return self.invalid(invoice, apply_credit_form=form, open_form="credit")
        try:
            applied = services.invoice_apply_credit(
                actor=self.request.user.email, invoice=invoice, amount=form.cleaned_data["amount"]
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.invalid(invoice, apply_credit_form=form, open_form="credit")
        messages.success(
            self.request, f"{format_money(applied, invoice.currency)} of credit applied."
        )
        return None

    def do_credit_note(self, invoice):
        form = CreditNoteForm(self.request.POST, prefix="cn", invoice=invoice)
        if not form.is_valid():
            return self.invalid(invoice, credit_note_form=form, open_form="credit_note")
        try:
            note = services.credit_note_create(
                actor=self.request.user.email,
                invoice=invoice,
                reason=form.cleaned_data["reason"],
                lines=form.service_lines(),
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.invalid(invoice, credit_note_form=form, open_form="credit_note")
        messages.success(
            self.request,
            f"Credit note {note.number} issued for {format_money(note.total, note.currency)}.",
        )
        return redirect("billing:invoice_detail", pk=note.pk)


class InvoicePdfView(BillingStaffMixin, View):
    def get(self, request, pk: int):
        invoice = invoice_or_404(request, pk)
        return pdf_response(
            request, invoice, back_url=reverse("billing:invoice_detail", args=[invoice.pk])
        )


# --------------------------------------------------------------------------------------
# Payments and credit


class PaymentListView(BillingStaffMixin, View):
    template_name = "billing/payment_list.html"

    def render_page(self, form=None, status: int = 200):
        filterset = PaymentFilter(self.request.GET or None, queryset=payment_list())
        table = PaymentTable(filterset.qs)
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        can_write = self.user_can_bill()
        context = {
            "filter": filterset,
            "table": table,
            "any_payments": table.paginator.count > 0 or bool(self.request.GET),
            "can_bill": can_write,
            "form": (form or PaymentRecordForm(prefix="pay")) if can_write else None,
            "show_form": form is not None,
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request):
        return self.render_page()

    def post(self, request):
        """Record a payment on account or against an open invoice (any customer)."""
        self.require_billing()
        form = PaymentRecordForm(request.POST, prefix="pay")
        if not form.is_valid():
            return self.render_page(form)
        try:
            payment = services.payment_record(
                actor=self.request.user.email,
                customer=form.cleaned_data["customer"],
                invoice=form.cleaned_data["invoice"],
                created_by=request.user,
                **form.arguments(),
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.render_page(form)
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.render_page(form)
        messages.success(
            request,
            f"Payment of {format_money(payment.amount, payment.currency)} from "
            f"{payment.customer} recorded.",
        )
        return redirect("billing:payment_list")


class CustomerCreditView(BillingStaffMixin, View):
    """A customer's credit balance and ledger; billing staff adjust it with a note."""

    template_name = "billing/customer_credit.html"

    def get_customer(self) -> Customer:
        try:
            return get_customer_for(self.request.user, self.kwargs["customer_pk"])
        except Customer.DoesNotExist as exc:
            raise Http404("No such customer.") from exc

    def render_page(self, customer: Customer, form=None):
        entries = customer_credit_entries(customer.pk)
        return render(
            self.request,
            self.template_name,
            {
                "customer": customer,
                "customer_url": customer_url(customer.pk),
                "balance": format_money(customer.credit_balance, customer.currency),
                "entries": [
                    {"entry": e, "amount": format_money(e.amount, customer.currency)}
                    for e in entries
                ],
                "open_invoices": [
                    {"invoice": invoice, "due": format_money(invoice.balance, invoice.currency)}
                    for invoice in with_balance(
                        invoice_list(customer_id=customer.pk).filter(open_invoice_q())
                    ).order_by("due_date", "id")
                ],
                "form": form or CustomerCreditForm(),
                "can_bill": self.user_can_bill(),
            },
        )

    def get(self, request, customer_pk: int):
        return self.render_page(self.get_customer())

    def post(self, request, customer_pk: int):
        self.require_billing()
        customer = self.get_customer()
        form = CustomerCreditForm(request.POST)
        if not form.is_valid():
            return self.render_page(customer, form)
        try:
            updated = services.customer_credit_adjust(
                actor=self.request.user.email,
                customer=customer,
                amount=form.cleaned_data["amount"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.render_page(customer, form)
        messages.success(
            request,
            f"Credit of {updated} is now {format_money(updated.credit_balance, updated.currency)}.",
        )
        return redirect("billing:customer_credit", customer_pk=customer.pk)


# --------------------------------------------------------------------------------------
# Settings, tax rates, e-mail templates


class SettingsView(BillingManagerMixin, View):
    template_name = "billing/settings.html"

    def render_page(self, form):
        can_manage = self.request.user.can_manage_instance
        if not can_manage:
            for field in form.fields.values():
                field.disabled = True
        return render(
            self.request,
            self.template_name,
            {
                "form": form,
                "can_manage": can_manage,
                "tax_rate_count": tax_rate_list().count(),
                "customised_emails": EmailTemplate.objects.count(),
            },
        )

    def get(self, request):
        row = services.billing_settings_get()
        return self.render_page(BillingSettingsForm(initial=BillingSettingsForm.initial_from(row)))

    def post(self, request):
        self.require_manager()
        form = BillingSettingsForm(request.POST)
        if form.is_valid():
            try:
                services.billing_settings_update(actor=self.request.user.email, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, "Billing settings saved.")
                return redirect("billing:settings")
        return self.render_page(form)


class TaxRateListView(BillingManagerMixin, TemplateView):
    template_name = "billing/taxrate_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        can_manage = self.request.user.can_manage_instance
        table = TaxRateTable(tax_rate_list(), can_manage=can_manage)
        RequestConfig(self.request, paginate={"per_page": 50}).configure(table)
        context.update(table=table, can_manage=can_manage, issuer=issuer_identity_get())
        return context


class TaxRateFormView(BillingManagerWriteMixin, View):
    template_name = "billing/taxrate_form.html"

    def get_rate(self) -> TaxRate | None:
        pk = self.kwargs.get("pk")
        if pk is None:
            return None
        try:
            return get_tax_rate_for(self.request.user, pk)
        except TaxRate.DoesNotExist as exc:
            raise Http404("No such tax rate.") from exc

    def render_page(self, form, rate):
        return render(self.request, self.template_name, {"form": form, "rate": rate})

    def get(self, request, pk: int | None = None):
        rate = self.get_rate()
        initial = {}
        if rate is None:
            identity = issuer_identity_get()
            if identity and identity.country:
                initial["country"] = identity.country
        return self.render_page(TaxRateForm(instance=rate, initial=initial), rate)

    def post(self, request, pk: int | None = None):
        rate = self.get_rate()
        form = TaxRateForm(request.POST, instance=rate)
        if not form.is_valid():
            return self.render_page(form, rate)
        data = form.cleaned_data
        try:
            saved = services.tax_rate_set(
                country=data["country"],
                tax_class=data["tax_class"],
                rate=data["rate"],
                name=data["name"],
                tax_rate=rate,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            return self.render_page(form, rate)
        messages.success(
            request, f"{saved.name} {saved.tax_class} in {saved.country.name}: {saved.rate} %."
        )
        return redirect("billing:taxrate_list")


class TaxRateDeleteView(BillingManagerMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk: int):
        self.require_manager()
        try:
            rate = get_tax_rate_for(request.user, pk)
        except TaxRate.DoesNotExist as exc:
            raise Http404("No such tax rate.") from exc
        services.tax_rate_delete(tax_rate=rate)
        messages.success(request, f"The {rate.tax_class} rate for {rate.country.name} was deleted.")
        return redirect("billing:taxrate_list")


# What each e-mail's template can use (the plain values `notifications` passes in).
EMAIL_VARIABLES = {
    EmailTemplate.Key.INVOICE_ISSUED: [
        "invoice.number",
        "invoice.issue_date",
        "invoice.due_date",
        "invoice.total",
        "invoice.amount_due",
        "invoice.url",
    ],
    EmailTemplate.Key.CREDIT_NOTE_ISSUED: [
        "invoice.number",
        "invoice.credited_invoice_number",
        "invoice.total",
        "invoice.url",
    ],
    EmailTemplate.Key.PAYMENT_RECEIPT: [
        "payment.amount",
        "payment.method",
        "payment.reference",
        "payment.received_on",
        "payment.to_credit",
        "invoice.number",
    ],
    EmailTemplate.Key.INVOICE_REMINDER: [
        "invoice.number",
        "invoice.amount_due",
        "invoice.due_date",
        "days_overdue",
        "level",
        "invoice.url",
    ],
    EmailTemplate.Key.SERVICE_SUSPENDED: ["service.name", "service.reason", "service.suspended_at"],
}
COMMON_EMAIL_VARIABLES = ["customer.name", "customer.display_name", "issuer.name", "portal_url"]


class EmailTemplateMixin(BillingManagerMixin):
    def get_key(self) -> str:
        key = self.kwargs["key"]
        if key not in EmailTemplate.Key.values:
            raise Http404("No such e-mail.")
        return key


class EmailTemplateListView(BillingManagerMixin, TemplateView):
    template_name = "billing/emailtemplate_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        overrides = {t.key: t for t in EmailTemplate.objects.all()}
        context["templates"] = [
            {"key": key, "label": label, "override": overrides.get(key)}
            for key, label in EmailTemplate.Key.choices
        ]
        context["can_manage"] = self.request.user.can_manage_instance
        return context


class EmailTemplateEditView(EmailTemplateMixin, View):
    template_name = "billing/emailtemplate_form.html"

    def render_page(self, key: str, form, override):
        default = email_template_default(key)
        can_manage = self.request.user.can_manage_instance
        if not can_manage:
            for field in form.fields.values():
                field.disabled = True
        return render(
            self.request,
            self.template_name,
            {
                "key": key,
                "label": EmailTemplate.Key(key).label,
                "form": form,
                "override": override,
                "default_subject": default[0] if default else "",
                "default_body": default[1] if default else "",
                "has_default": default is not None,
                "can_manage": can_manage,
                "variables": [
                    "{{ " + name + " }}"
                    for name in [*EMAIL_VARIABLES.get(key, []), *COMMON_EMAIL_VARIABLES]
                ],
            },
        )

    def get(self, request, key: str):
        key = self.get_key()
        override = EmailTemplate.objects.filter(key=key).first()
        initial = {}
        if override is None:
            default = email_template_default(key)
            if default:
                initial = {"subject": default[0], "body": default[1]}
        form = EmailTemplateForm(instance=override, initial=initial)
        return self.render_page(key, form, override)

    def post(self, request, key: str):
        self.require_manager()
        key = self.get_key()
        override = EmailTemplate.objects.filter(key=key).first()
        form = EmailTemplateForm(request.POST, instance=override or EmailTemplate(key=key))
        if not form.is_valid():
            return self.render_page(key, form, override)
        instance_services.email_template_set(
            key=key, subject=form.cleaned_data["subject"], body=form.cleaned_data["body"]
        )
        messages.success(request, f"“{EmailTemplate.Key(key).label}” now uses your wording.")
        return redirect("billing:emailtemplate_list")


class EmailTemplateResetView(EmailTemplateMixin, View):
    http_method_names = ["post"]

    def post(self, request, key: str):
        self.require_manager()
        key = self.get_key()
        instance_services.email_template_reset(key=key)
        messages.success(
            request, f"“{EmailTemplate.Key(key).label}” is back to the built-in wording."
        )
        return redirect("billing:emailtemplate_list")


# --------------------------------------------------------------------------------------
# Billing runs
