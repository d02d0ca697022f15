"""Pages of the shop: the catalog (also the instance's home page for visitors), the cart,
sign-up with e-mail confirmation, and checkout. Everything works with plain forms and
redirects (no script needed); the shop wears the instance's name, colour and logo.

Checkout hands over to the pay page of the order's invoice that the portal's own order
flow uses (billing's `online_payment_url` port, answered by card payments), or to that
invoice's page when the customer chose to pay by invoice: there is one pay page.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from tenant_apps.accounts.signins import client_ip
from tenant_apps.billing.models import Invoice
from tenant_apps.billing.ports import online_payment_url
from tenant_apps.cards.selectors import card_setup
from tenant_apps.clients.selectors import customer_for_user
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.forms import form_add_service_errors
from tenant_apps.instance.money import format_money
from tenant_apps.instance.selectors import issuer_identity_get
from tenant_apps.orders.forms import price_text
from tenant_apps.orders.models import Order
from tenant_apps.referrals.selectors import attribution_for, referer_from_request
from tenant_apps.referrals.services import signup_attribute_from_request

from . import cart as session_cart
from . import selectors, services
from .forms import AddToCartForm, CheckoutForm, SignupForm

BACKEND = "django.contrib.auth.backends.ModelBackend"


def _shop_name(request) -> str:
    tenant = getattr(request, "tenant", None)
    return getattr(tenant, "name", "") or _("Shop")


class ShopView(View):
    """Base of the shop's pages: the instance's look, the currency and the cart count.

    What a page reads once (the issuer identity, the catalog) is kept on the view for the
    request, so the catalog page costs a fixed handful of queries.
    """

    _identity_read = False
    _identity = None
    _plans: list | None = None

    def identity(self):
        if not self._identity_read:
            self._identity, self._identity_read = selectors.shop_identity(), True
        return self._identity

    def own_currency(self) -> str:
        identity = self.identity()
        return identity.currency if identity else "EUR"

    def catalog_plans(self) -> list:
        if self._plans is None:
            self._plans = selectors.shop_plans_all()
        return self._plans

    def currencies(self) -> list[str]:
        return selectors.currencies_of(self.catalog_plans(), self.own_currency())

    def currency(self) -> str:
        user = self.request.user
        if user.is_authenticated and user.is_customer:
            customer = customer_for_user(user)
            if customer is not None:
                return customer.currency  # a customer is billed in their own currency
        # Set only from the offered currencies (CurrencyView, CartAddView).
        chosen = self.request.session.get(session_cart.CURRENCY_KEY)
        return chosen or self.currencies()[0]

    def render(self, template: str, context: dict | None = None, status: int = 200):
        base = {
            "shop": selectors.branding(self.identity(), _shop_name(self.request)),
            "shop_settings": selectors.storefront_settings_get(),
            "cart_count": session_cart.cart_count(self.request.session),
        }
        return render(self.request, template, {**base, **(context or {})}, status=status)


def front(signed_in_view):
    """The instance's home page: the shop for visitors, `signed_in_view` (each user's own
    area) for anyone signed in."""

    def view(request, *args, **kwargs):
        if request.user.is_authenticated:
            return signed_in_view(request, *args, **kwargs)
        return CatalogView.as_view()(request, *args, **kwargs)

    return view


class CatalogView(ShopView):
    template_name = "storefront/catalog.html"

    def get(self, request):
        currency = self.currency()
        resources = selectors.plan_resources()
        plans = []
        on_sale = selectors.plans_in(self.catalog_plans(), currency)
        for plan in on_sale:
            prices = selectors.prices_in(plan, currency)
            plans.append(
                {
                    "plan": plan,
                    "features": selectors.plan_features(plan, resources),
                    "prices": [
                        {
                            "price": price,
                            "cycle": price.get_cycle_display(),
                            "text": price_text(price),
                        }
                        for price in prices
                    ],
                    "addons": [
                        {
                            "addon": addon,
                            "text": " · ".join(
                                price_text(p) for p in selectors.prices_in(addon, currency)
                            ),
                        }
                        for addon in selectors.addons_in(plan, currency)
                    ],
                }
            )
        entries = {entry["plan"].pk: entry for entry in plans}
        sections = [
            {**section, "entries": [entries[plan.pk] for plan in section["plans"]]}
            for section in selectors.catalog_sections(selectors.shop_groups(), on_sale)
        ]
        return self.render(
            self.template_name,
            {
                "plans": plans,
                "sections": sections,
                "currency": currency,
                "currencies": self.currencies(),
                "signed_in": request.user.is_authenticated,
            },
        )


class CurrencyView(ShopView):
    def post(self, request):
        chosen = (request.POST.get("currency") or "").upper()
        if chosen in self.currencies():
            request.session[session_cart.CURRENCY_KEY] = chosen
        return redirect("storefront:catalog")


class CartAddView(ShopView):
    def post(self, request, plan_pk: int):
        currency = self.currency()
        plan = next(
            (p for p in selectors.plans_in(self.catalog_plans(), currency) if p.pk == plan_pk),
            None,
        )
        if plan is None:
            messages.error(request, _("This plan is not sold (any more); choose another."))
            return redirect("storefront:catalog")
        form = AddToCartForm(request.POST, plan=plan, currency=currency)
        if not form.is_valid():
            for error in form.errors.get("__all__", []) or [_("Choose a billing cycle.")]:
                messages.error(request, error)
            return redirect("storefront:catalog")
        try:
            session_cart.cart_add(
                request.session,
                plan_id=plan.pk,
                cycle=form.cleaned_data["cycle"],
                addon_ids=form.cleaned_data["addons"],
            )
        except session_cart.CartFull as exc:
            messages.error(request, str(exc))
        else:
            # The cart is priced in this currency from now on (no catalog read to know it).
            request.session[session_cart.CURRENCY_KEY] = currency
            messages.success(request, _("%(name)s is in your cart.") % {"name": plan.name})
        return redirect("storefront:cart")

    def get(self, request, plan_pk: int):
        return HttpResponseNotAllowed(["POST"])


class CartRemoveView(View):
    def post(self, request, index: int):
        session_cart.cart_remove(request.session, index=index)
        return redirect("storefront:cart")


def _line_rows(lines) -> list[dict]:
    return [
        {
            "line": line,
            "price": price_text(line.price) if line.price else "",
            "addons": [(addon.name, price_text(price)) for addon, price in line.addons],
            "total": format_money(line.total, line.price.currency) if line.price else "",
        }
        for line in lines
    ]


class CartView(ShopView):
    template_name = "storefront/cart.html"

    def get(self, request):
        currency = self.currency()
        lines = selectors.cart_lines(session_cart.cart_items(request.session), currency)
        total = sum((line.total for line in lines), start=0)
        return self.render(
            self.template_name,
            {
                "rows": _line_rows(lines),
                "currency": currency,
                "total": format_money(total, currency) if lines else "",
                "has_problem": any(line.problem for line in lines),
            },
        )


class CheckoutView(ShopView):
    """Anonymous visitors choose: sign in (existing customers) or sign up. Customers review
    the cart, choose how to pay, name their reseller instances, and order."""

    template_name = "storefront/checkout.html"

    def setup_state(self, request):
        self.lines = selectors.cart_lines(session_cart.cart_items(request.session), self.currency())
        self.cards = card_setup()
        self.settings_row = selectors.storefront_settings_get()
        self.customer = (
            customer_for_user(request.user)
            if request.user.is_authenticated and request.user.is_customer
            else None
        )

    def get_form(self, data=None) -> CheckoutForm:
        current = self.settings_row.terms_version
        accepted = selectors.accepted_terms_version(self.customer) if self.customer else current
        return CheckoutForm(
            data,
            # An existing reseller buying more capacity names no new instance.
            reseller_lines=[
                line
                for line in self.lines
                if line.is_reseller_plan and not (self.customer and self.customer.reseller_id)
            ],
            allow_invoice=self.settings_row.allow_invoice_payment,
            terms_version=current if accepted != current else "",
        )

    def page(self, form=None, status: int = 200):
        request = self.request
        currency = self.currency()
        total = sum((line.total for line in self.lines), start=0)
        return self.render(
            self.template_name,
            {
                "rows": _line_rows(self.lines),
                "total": format_money(total, currency) if self.lines else "",
                "form": form or (self.get_form() if self.customer else None),
                "customer": self.customer,
                "is_staff_user": request.user.is_authenticated and request.user.is_instance_staff,
                "signed_in": request.user.is_authenticated,
                "cards_ready": self.cards.ready,
                "can_pay": self.cards.ready or self.settings_row.allow_invoice_payment,
                "login_url": f"{reverse('accounts:login')}?next={reverse('storefront:checkout')}",
                "has_problem": any(line.problem for line in self.lines),
            },
            status=status,
        )

    def get(self, request):
        self.setup_state(request)
        if not self.lines:
            messages.info(request, _("Your cart is empty: choose a plan first."))
            return redirect("storefront:catalog")
        return self.page()

    def post(self, request):
        self.setup_state(request)
        if self.customer is None:
            return self.page(status=403)
        form = self.get_form(request.POST)
        if not form.is_valid():
            return self.page(form)
        method = form.cleaned_data["payment"]
        if method == "card" and not self.cards.ready:
            form.add_error("payment", _("Card payments are not available right now."))
            return self.page(form)
        referer = referer_from_request(request)
        try:
            with transaction.atomic():
                order, invoice = services.storefront_order_place(
                    customer=self.customer,
                    lines=self.lines,
                    labels=form.labels(),
                    referer=referer,
                    referer_source=Order.RefererSource.LINK if referer else "",
                    user=request.user,
                    accepted_terms=form.accepted_terms(),
                    ip_address=client_ip(request),
                )
        except ValidationError as exc:
            form_add_service_errors(form, exc, aliases=_label_aliases(self.lines))
            return self.page(form)
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.page(form)
        session_cart.cart_clear(request.session)
        # The one pay page, as the portal's order flow uses it (billing's port, answered by
        # card payments): "" when the invoice cannot be paid by card now (nothing due).
        pay_url = online_payment_url(invoice) if method == "card" else ""
        if pay_url:
            return redirect(pay_url)
        if invoice.status == Invoice.Status.PAID:
            return redirect("portal_orders:order_detail", pk=order.pk)
        messages.success(
            request,
            _(
                "Thank you: invoice %(number)s was sent to %(email)s. Your services "
                "start as soon as it is paid."
            )
            % {"number": invoice.number, "email": self.customer.email},
        )
        return redirect("portal_billing:invoice_detail", pk=invoice.pk)


def _label_aliases(lines) -> dict[str, str]:
    # The orders services name the instance name "label"; with one reseller plan in the
    # cart that is its field on this form.
    reseller = [line for line in lines if line.is_reseller_plan]
    return {"label": f"instance_{reseller[0].index}"} if len(reseller) == 1 else {}


class SignupView(ShopView):
    template_name = "storefront/signup.html"

    def form(self, data=None) -> SignupForm:
        version = selectors.storefront_settings_get().terms_version
        return SignupForm(data, initial={"terms_version": version})

    def get(self, request):
        if request.user.is_authenticated:
            return redirect("storefront:checkout")
        return self.render(self.template_name, {"form": self.form()})

    def post(self, request):
        ip_address = client_ip(request)
        try:
            # Counted before anything is read or written: a bot's 50 posts cost 20.
            services.signup_post_reserve(ip_address=ip_address)
        except services.SignupThrottled as exc:
            response = self.render(
                self.template_name, {"form": self.form(), "refused": str(exc)}, status=429
            )
            response["Retry-After"] = str(services.WINDOW_SECONDS)
            return response
        form = self.form(request.POST)
        if not form.is_valid():
            return self.render(self.template_name, {"form": form})
        host = request.get_host()
        scheme = "https" if request.is_secure() else "http"

        def confirm_url_for(token: str) -> str:
            path = reverse("storefront:signup_confirm", kwargs={"token": token})
            return f"{scheme}://{host}{path}"

        attribution = attribution_for(request)
        try:
            services.signup_start(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                full_name=form.cleaned_data["name"],
                billing=form.billing(self.currency()),
                terms_version=form.cleaned_data["terms_version"],
                ip_address=ip_address,
                confirm_url_for=confirm_url_for,
                referer=attribution.referer if attribution else None,
                referer_source=attribution.source if attribution else "",
            )
        except ValidationError as exc:
            form_add_service_errors(form, exc)
            return self.render(self.template_name, {"form": form})
        except services.SignupThrottled as exc:
            form.add_error("email", str(exc))
            return self.render(self.template_name, {"form": form}, status=429)
        request.session["storefront_signup_email"] = form.cleaned_data["email"]
        return redirect("storefront:signup_sent")


class SignupSentView(ShopView):
    def get(self, request):
        return self.render(
            "storefront/signup_sent.html",
            {"email": request.session.get("storefront_signup_email", "")},
        )


class SignupConfirmView(ShopView):
    """GET shows the address and a button (mail scanners follow links; only a person
    presses the button); POST creates the account and signs it in."""

    template_name = "storefront/signup_confirm.html"

    def get(self, request, token: str):
        try:
            pending = services.pending_signup_for_token(token)
        except services.SignupLinkInvalid as exc:
            return self.render(self.template_name, {"refused": str(exc)}, status=400)
        return self.render(self.template_name, {"email": pending.email})

    def post(self, request, token: str):
        try:
            user = services.signup_confirm(token=token, ip_address=client_ip(request))
        except services.SignupLinkInvalid as exc:
            return self.render(self.template_name, {"refused": str(exc)}, status=400)
        except ValidationError as exc:
            return self.render(self.template_name, {"refused": " ".join(exc.messages)}, status=400)
        login(request, user, backend=BACKEND)
        # The new customer is credited to the partner whose ?ref= link this browser
        # followed, as the order placed next is; a partner deactivated a moment ago
        # credits nothing, and the account stands either way.
        try:
            signup_attribute_from_request(customer=customer_for_user(user), request=request)
        except ValidationError:
            pass
        request.session.pop("storefront_signup_email", None)
        messages.success(request, _("Your e-mail address is confirmed and your account is ready."))
        if session_cart.cart_count(request.session):
            return redirect("storefront:checkout")
        return redirect("portal:home")


class TermsView(ShopView):
    def get(self, request):
        return self.render("storefront/terms.html")


class LogoView(View):
    """The instance's logo, public like the shop it brands (read from this instance only)."""

    def get(self, request):
        identity = issuer_identity_get()
        if identity is None or not identity.logo or not default_storage.exists(identity.logo.name):
            raise Http404("No logo.")
        response = FileResponse(default_storage.open(identity.logo.name, "rb"))
        response["Cache-Control"] = "public, max-age=300"
        return response
