"""The issuer identity screen: brand colour and logo, stored per instance and printed on PDFs."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context
from PIL import Image

from tenant_apps.instance.models import IssuerIdentity
from tests.conftest import client_for


def _png(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (side, side), (15, 118, 110, 255)).save(out, format="PNG")
    return out.getvalue()


# A 32×32 logo (the smallest a logo may be is 16 pixels a side: tests/test_branding.py).
PNG = _png(32)
BASE = {
    "legal_name": "Acme Hosting SARL",
    "currency": "EUR",
    "country": "FR",
    "brand_color": "#0f766e",
}


def test_logo_and_colour_are_saved_under_the_instances_own_folder(instance_a):
    client = client_for(instance_a, instance_a.owner)
    response = client.post(
        "/staff/identity/", {**BASE, "logo": SimpleUploadedFile("logo.png", PNG, "image/png")}
    )
    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        identity = IssuerIdentity.objects.get()
        assert identity.brand_color == "#0f766e"
        assert identity.logo.name.startswith("r_acme/identity/")
    # Saving again without a file keeps the logo.
    client.post("/staff/identity/", BASE)
    with schema_context(instance_a.schema_name):
        assert IssuerIdentity.objects.get().logo.name.startswith("r_acme/identity/")


def test_a_logo_that_is_not_an_image_is_refused(instance_a):
    client = client_for(instance_a, instance_a.owner)
    fake = SimpleUploadedFile("logo.png", b"<html><script>alert(1)</script></html>", "image/png")
    response = client.post("/staff/identity/", {**BASE, "logo": fake})
    assert response.status_code == 200
    assert "PNG or JPEG" in " ".join(response.context["form"].errors["logo"])
    with schema_context(instance_a.schema_name):
        assert not IssuerIdentity.objects.get().logo


def test_a_bad_colour_is_a_form_error(instance_a):
    response = client_for(instance_a, instance_a.owner).post(
        "/staff/identity/", {**BASE, "brand_color": "red"}
    )
    assert "brand_color" in response.context["form"].errors
