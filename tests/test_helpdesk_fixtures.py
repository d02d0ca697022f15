"""Shared arrangements of the helpdesk tests (no tests here): customers, tickets, uploads."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from factory.django import DjangoModelFactory

from tenant_apps.clients.models import Customer
from tenant_apps.helpdesk import services

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"helpdesk-customer{n}@example.test")
    country = "FR"


def user(email: str):
    return get_user_model().objects.get(email=email)


def portal_customer(email: str) -> Customer:
    """The customer record of the seeded portal login `email` (created on first use)."""
    login = user(email)
    customer = Customer.objects.filter(user=login).first()
    return customer or CustomerFactory(user=login, email=email, name="Alice Martin")


def other_customer() -> Customer:
    login = get_user_model().objects.create_user(email="someone-else@example.test")
    return CustomerFactory(user=login, email=login.email, name="Bob Other")


def open_ticket(customer: Customer, **overrides):
    values = {
        "subject": "Site is down",
        "body": "My website answers 502 since this morning.",
        "customer": customer,
        "requester": customer.user,
    }
    return services.ticket_open(**(values | overrides))


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)
