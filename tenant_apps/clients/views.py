"""Customer screens: staff list, create/edit with contacts, detail, actions; portal details.

Writes go through `services`; their errors become form errors or messages, never a 500.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from tenant_apps.accounts.permissions import CustomerRequiredMixin, StaffRequiredMixin
from tenant_apps.accounts.signins import client_ip
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.forms import form_add_service_errors as apply_errors
from tenant_apps.instance.money import format_money
from tenant_apps.instance.selectors import issuer_identity_get
from tenant_apps.mail.selectors import emails_for_customer

from . import services
from .forms import (
    CONTACT_FORM_FIELDS,
    CUSTOMER_FORM_FIELDS,
    BillingDetailsForm,
    ContactFormSet,
    CustomerForm,
)
from .models import Contact, Customer
from .selectors import customer_activity, customer_for_user, customer_list, get_customer_for
from .tables import CustomerFilter, CustomerTable, tax_status_badge
from .tax_ids import is_eu_vat_id

CONTACTS_PREFIX = "contacts"


class _ContactsInvalid(Exception):
    """A contact was refused by its service: roll the whole save back and show the form."""


def _initial(customer: Customer, fields: list[str]) -> dict:
    initial = model_to_dict(customer, fields=fields)
    if "country" in initial:
        initial["country"] = str(customer.country or "")
    return initial


def _tax_id_message(request, customer: Customer) -> None:
    """Tell staff what the registry said about a tax id that was just checked."""
    summary = (customer.tax_id_check_detail or "").splitlines()
    text = summary[0] if summary else ""
    if customer.tax_id_status == Customer.TaxIdStatus.VALID and "unreachable" not in text:
        messages.success(request, text)
    elif customer.tax_id_status == Customer.TaxIdStatus.INVALID and "unreachable" not in text:
        messages.error(request, text)
    elif text and is_eu_vat_id(customer.tax_id, str(customer.country)):
        messages.warning(request, text)


class TaxTermsMixin:
    """Staff who may not change tax terms see them read-only (the service enforces it)."""

    def tax_terms_locked(self) -> bool:
        return not self.request.user.can_change_tax_terms


class CustomerMixin(TaxTermsMixin, StaffRequiredMixin):
    def get_customer(self) -> Customer:
        try:
            return get_customer_for(self.request.user, self.kwargs["pk"])
        except Customer.DoesNotExist as exc:
            raise Http404("No such customer.") from exc


class CustomerListView(StaffRequiredMixin, TemplateView):
    template_name = "clients/customer_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = CustomerFilter(self.request.GET or None, queryset=customer_list())
        table = CustomerTable(filterset.qs)
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        context.update(filter=filterset, table=table, any_customers=Customer.objects.exists())
        return context


class CustomerCreateView(TaxTermsMixin, StaffRequiredMixin, TemplateView):
    template_name = "clients/customer_form.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if "form" not in kwargs:
            context["form"] = CustomerForm(
                initial=self.form_initial(), tax_terms_locked=self.tax_terms_locked()
            )
            context["contacts"] = ContactFormSet(instance=Customer(), prefix=CONTACTS_PREFIX)
        context["creating"] = True
        return context

    def form_initial(self) -> dict:
        identity = issuer_identity_get()
        return {
            "currency": identity.currency if identity else "EUR",
            "country": identity.country if identity else "",
        }

    def post(self, request, *args, **kwargs):
        form = CustomerForm(
            request.POST, initial=self.form_initial(), tax_terms_locked=self.tax_terms_locked()
        )
        contacts = ContactFormSet(request.POST, instance=Customer(), prefix=CONTACTS_PREFIX)
        if form.is_valid() and contacts.is_valid():
            new_contacts = [
                {field: f.cleaned_data.get(field) for field in CONTACT_FORM_FIELDS}
                for f in contacts.forms
                if f.has_changed() and f not in contacts.deleted_forms
            ]
            try:
                customer = services.customer_create(
                    **form.cleaned_data, contacts=new_contacts, actor=request.user
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("%(display_name)s was added.") % {"display_name": customer.display_name},
                )
                _tax_id_message(request, customer)
                return redirect("clients:customer_detail", pk=customer.pk)
        return self.render_to_response(self.get_context_data(form=form, contacts=contacts))


class CustomerDetailView(CustomerMixin, TemplateView):
    template_name = "clients/customer_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        customer = self.get_customer()
        context.update(
            customer=customer,
            contacts=list(customer.contacts.all()),
            events=customer_activity(customer),
            credit=format_money(customer.credit_balance, customer.currency),
            tax_badge=tax_status_badge(customer),
            can_verify=is_eu_vat_id(customer.tax_id, str(customer.country)),
            can_invite=customer.user_id is None and customer.status == Customer.Status.ACTIVE,
            related_services=list(
                customer.services.select_related("product").order_by("-created_at")[:20]
            ),
            related_invoices=list(customer.invoices.order_by("-created_at", "-id")[:20]),
            customer_emails=emails_for_customer(customer.pk),
        )
        return context


class CustomerEditView(CustomerMixin, TemplateView):
    template_name = "clients/customer_form.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        customer = kwargs.get("customer") or self.get_customer()
        if "form" not in kwargs:
            context["form"] = CustomerForm(
                initial=_initial(customer, CUSTOMER_FORM_FIELDS),
                tax_terms_locked=self.tax_terms_locked(),
            )
            context["contacts"] = ContactFormSet(instance=customer, prefix=CONTACTS_PREFIX)
        context["customer"] = customer
        return context

    def post(self, request, *args, **kwargs):
        customer = self.get_customer()
        form = CustomerForm(
            request.POST,
            initial=_initial(customer, CUSTOMER_FORM_FIELDS),
            tax_terms_locked=self.tax_terms_locked(),
        )
        contacts = ContactFormSet(request.POST, instance=customer, prefix=CONTACTS_PREFIX)
        if form.is_valid() and contacts.is_valid():
            try:
                # One save: the customer's details and every contact change, or nothing.
                with transaction.atomic():
                    updated = services.customer_update(
                        customer=customer, actor=request.user, **form.cleaned_data
                    )
                    self._save_contacts(contacts, updated)
            except ValidationError as exc:
                apply_errors(form, exc)
            except _ContactsInvalid:
                pass
            else:
                messages.success(
                    request,
                    _("%(display_name)s was saved.") % {"display_name": updated.display_name},
                )
                if updated.tax_id_check_detail != customer.tax_id_check_detail:
                    _tax_id_message(request, updated)
                return redirect("clients:customer_detail", pk=customer.pk)
        return self.render_to_response(
            self.get_context_data(customer=customer, form=form, contacts=contacts)
        )

    def _save_contacts(self, formset, customer: Customer) -> None:
        actor = self.request.user
        failed = False
        for form in formset.forms:
            existing = form.instance.pk
            try:
                if form in formset.deleted_forms:
                    if existing:
                        services.contact_remove(
                            contact=Contact.objects.get(pk=existing, customer=customer),
                            actor=actor,
                        )
                    continue
                if not form.has_changed():
                    continue
                values = {field: form.cleaned_data.get(field) for field in CONTACT_FORM_FIELDS}
                if existing:
                    # The formset's instance was already altered by form validation: reload.
                    services.contact_update(
                        contact=Contact.objects.get(pk=existing, customer=customer),
                        actor=actor,
                        **values,
                    )
                else:
                    services.contact_add(customer=customer, actor=actor, **values)
            except ValidationError as exc:
                apply_errors(form, exc)
                failed = True
        if failed:
            raise _ContactsInvalid


class CustomerActionView(CustomerMixin, View):
    """POST-only actions on one customer; each redirects back to its detail page."""

    http_method_names = ["post"]

    def post(self, request, pk: int):
        customer = self.get_customer()
        try:
            self.act(customer)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except DomainError as exc:
            messages.error(request, str(exc))
        return redirect("clients:customer_detail", pk=customer.pk)

    def act(self, customer: Customer) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError


class CustomerVerifyTaxIdView(CustomerActionView):
    def act(self, customer):
        checked = services.customer_tax_id_verify(customer=customer, actor=self.request.user)
        _tax_id_message(self.request, checked)


class CustomerInviteView(CustomerActionView):
    def act(self, customer):
        user = services.customer_portal_invite(
            customer=customer,
            domain=self.request.get_host(),
            use_https=self.request.is_secure(),
            actor=self.request.user,
            ip_address=client_ip(self.request),
        )
        messages.success(
            self.request,
            _("%(email)s can now sign in to the portal; a link to set a password is on its way.")
            % {"email": user.email},
        )


class CustomerCloseView(CustomerActionView):
    def act(self, customer):
        services.customer_close(customer=customer, actor=self.request.user)
        messages.success(
            self.request,
            _("%(display_name)s is closed; the data is kept.")
            % {"display_name": customer.display_name},
        )


class CustomerReopenView(CustomerActionView):
    def act(self, customer):
        services.customer_reopen(customer=customer, actor=self.request.user)
        messages.success(
            self.request,
            _("%(display_name)s is active again.") % {"display_name": customer.display_name},
        )


# --------------------------------------------------------------------------------------
# Portal


class BillingDetailsView(CustomerRequiredMixin, TemplateView):
    """A customer's own billing details (name, company, address, tax id)."""

    template_name = "clients/portal_billing_details.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if "customer" in kwargs:
            customer = kwargs["customer"]
        else:
            customer = customer_for_user(self.request.user)
        if customer is not None and "form" not in kwargs:
            context["form"] = BillingDetailsForm(initial=_initial(customer, _billing_fields()))
        context.update(customer=customer, tax_badge=customer and tax_status_badge(customer))
        return context

    def post(self, request, *args, **kwargs):
        customer = customer_for_user(request.user)
        if customer is None:
            return self.get(request, *args, **kwargs)
        form = BillingDetailsForm(request.POST, initial=_initial(customer, _billing_fields()))
        if form.is_valid():
            try:
                updated = services.customer_update(
                    customer=customer, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Your billing details were saved."))
                if updated.tax_id != customer.tax_id and updated.tax_id:
                    self._tax_id_message(updated)
                return redirect("portal_clients:billing_details")
        return self.render_to_response(self.get_context_data(customer=customer, form=form))

    def _tax_id_message(self, customer: Customer) -> None:
        # Customers see the outcome, not the registry's internals.
        if customer.tax_id_status == Customer.TaxIdStatus.VALID:
            messages.success(
                self.request, _("Your VAT id was confirmed by the EU's VIES registry.")
            )
        elif customer.tax_id_status == Customer.TaxIdStatus.INVALID:
            messages.error(
                self.request,
                _(
                    "The EU's VIES registry does not know this VAT id; invoices will include VAT "
                    "until it is corrected."
                ),
            )
        elif is_eu_vat_id(customer.tax_id, str(customer.country)):
            messages.warning(
                self.request,
                _(
                    "The EU's VIES registry could not be reached; we will check your VAT id again "
                    "shortly."
                ),
            )


def _billing_fields() -> list[str]:
    return list(BillingDetailsForm._meta.fields)
