"""Service e-mails to customers (a suspension, and why), in the instance's own wording."""

from __future__ import annotations

from django.urls import reverse
from django.utils import translation

from tenant_apps.billing.notifications import billing_recipients, mail_context, mail_send
from tenant_apps.clients.selectors import customer_language
from tenant_apps.instance.emails import link
from tenant_apps.instance.models import EmailTemplate
from tenant_apps.instance.selectors import issuer_identity_get

from .models import Service


def service_suspended_notify(*, service: Service, base_url: str = "") -> None:
    """Tell the customer a service was suspended, and why."""
    customer = service.customer
    with translation.override(customer_language(customer)):
        identity = issuer_identity_get()
        context = mail_context(identity, customer, base_url)
        context["service"] = {
            "id": service.pk,
            "name": str(service),
            "product": service.product.name,
            "label": service.label,
            "reason": service.status_reason,
            "for_nonpayment": service.suspended_for_nonpayment,
            "suspended_at": service.suspended_at,
            "url": link(base_url, reverse("portal_orders:service_detail", args=[service.pk])),
        }
        mail_send(
            key=EmailTemplate.Key.SERVICE_SUSPENDED,
            context=context,
            recipients=billing_recipients(customer),
            customer_id=customer.pk,
        )
