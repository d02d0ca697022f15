"""Staff screens of the catalog: products with prices, add-ons and resources; tax classes."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from tenant_apps.accounts.permissions import StaffRequiredMixin
from tenant_apps.instance.money import format_money
from tenant_apps.instance.selectors import issuer_identity_get

from . import services
from .forms import (
    ProductForm,
    TaxClassForm,
    add_service_errors,
    currency_codes,
    price_formset,
)
from .models import Product, TaxClass
from .selectors import (
    get_product_for,
    get_tax_class_for,
    product_list,
    resource_choices,
    sorted_prices,
    tax_class_list,
)
from .tables import ProductFilter, ProductTable, TaxClassTable


class CatalogManagerMixin(StaffRequiredMixin):
    """Screens that change the catalog: the owner and administrators only."""

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_instance_staff and not user.can_manage_instance:
            raise PermissionDenied(_("Only the owner or an administrator can change the catalog."))
        return super().dispatch(request, *args, **kwargs)


def _product_or_404(request, pk: int) -> Product:
    try:
        return get_product_for(request.user, pk)
    except Product.DoesNotExist as exc:
        raise Http404("No such product.") from exc


def _tax_class_or_404(request, pk: int) -> TaxClass:
    try:
        return get_tax_class_for(request.user, pk)
    except TaxClass.DoesNotExist as exc:
        raise Http404("No such tax class.") from exc


def _default_currency() -> str:
    identity = issuer_identity_get()
    return identity.currency if identity and identity.currency else "EUR"


class ProductListView(StaffRequiredMixin, TemplateView):
    template_name = "catalog/product_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = ProductFilter(self.request.GET or None, queryset=product_list())
        table = ProductTable(filterset.qs)
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        context.update(
            filter=filterset,
            table=table,
            any_products=Product.objects.exists(),
            can_manage=self.request.user.can_manage_instance,
        )
        return context


class ProductDetailView(StaffRequiredMixin, TemplateView):
    template_name = "catalog/product_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        product = _product_or_404(self.request, self.kwargs["pk"])
        context.update(
            product=product,
            prices=[
                {
                    "currency": p.currency,
                    "cycle": p.get_cycle_display(),
                    "amount": format_money(p.amount, p.currency),
                    "setup_fee": format_money(p.setup_fee, p.currency) if p.setup_fee else "—",
                }
                for p in sorted_prices(product.prices.all())
            ],
            resources=[
                {"name": name, "unit": unit, "amount": product.resources[code]}
                for code, name, unit in resource_choices()
                if product.resources.get(code)
            ],
            parents=product.parent_products.order_by("position", "name"),
            can_manage=self.request.user.can_manage_instance,
        )
        return context


class ProductFormView(CatalogManagerMixin, View):
    """Create (no pk) or edit (pk) a product, its prices, add-ons and resources in one form."""

    template_name = "catalog/product_form.html"

    def get_product(self) -> Product | None:
        pk = self.kwargs.get("pk")
        return _product_or_404(self.request, pk) if pk is not None else None

    def render_page(self, form, formset, product, price_errors=(), resource_errors=()):
        return render(
            self.request,
            self.template_name,
            {
                "form": form,
                "formset": formset,
                "product": product,
                "price_errors": list(price_errors),
                "resource_errors": list(resource_errors),
                "currency_codes": currency_codes(),
            },
        )

    def get(self, request, pk: int | None = None):
        product = self.get_product()
        is_operator = request.tenant.is_operator
        form = ProductForm(product=product, is_operator=is_operator)
        formset = price_formset(product=product, default_currency=_default_currency())
        return self.render_page(form, formset, product)

    def post(self, request, pk: int | None = None):
        product = self.get_product()
        form = ProductForm(request.POST, product=product, is_operator=request.tenant.is_operator)
        formset = price_formset(
            data=request.POST, product=product, default_currency=_default_currency()
        )
        if not (form.is_valid() and formset.is_valid()):
            return self.render_page(form, formset, product)
        arguments = {
            **form.service_arguments(),
            "prices": formset.price_rows(),
            "actor": request.user,
        }
        try:
            if product is None:
                product = services.product_create(**arguments)
            else:
                product = services.product_update(product=product, **arguments)
        except ValidationError as exc:
            leftover = add_service_errors(form, exc)
            price_errors = leftover.pop("prices", [])
            resource_errors = leftover.pop("resources", [])
            for field_messages in leftover.values():
                for message in field_messages:
                    form.add_error(None, message)
            return self.render_page(form, formset, product, price_errors, resource_errors)
        messages.success(request, _("%(name)s saved.") % {"name": product.name})
        return redirect("catalog:product_detail", pk=product.pk)


class ProductStatusView(CatalogManagerMixin, View):
    """POST only: archive or restore a product, then back to its page."""

    http_method_names = ["post"]
    archive = True

    def post(self, request, pk: int):
        product = _product_or_404(request, pk)
        if self.archive:
            services.product_archive(product=product, actor=request.user)
            messages.success(
                request,
                _("%(name)s is archived; it can no longer be ordered.") % {"name": product.name},
            )
        else:
            services.product_restore(product=product, actor=request.user)
            messages.success(request, _("%(name)s can be ordered again.") % {"name": product.name})
        return redirect("catalog:product_detail", pk=product.pk)


class TaxClassListView(StaffRequiredMixin, TemplateView):
    template_name = "catalog/taxclass_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        can_manage = self.request.user.can_manage_instance
        table = TaxClassTable(tax_class_list(), can_manage=can_manage)
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        context.update(table=table, can_manage=can_manage)
        return context


class TaxClassFormView(CatalogManagerMixin, View):
    template_name = "catalog/taxclass_form.html"

    def get_tax_class(self) -> TaxClass | None:
        pk = self.kwargs.get("pk")
        return _tax_class_or_404(self.request, pk) if pk is not None else None

    def get(self, request, pk: int | None = None):
        tax_class = self.get_tax_class()
        initial = {"code": tax_class.code, "name": tax_class.name} if tax_class else None
        form = TaxClassForm(initial=initial)
        return render(request, self.template_name, {"form": form, "tax_class": tax_class})

    def post(self, request, pk: int | None = None):
        tax_class = self.get_tax_class()
        form = TaxClassForm(request.POST)
        if form.is_valid():
            try:
                if tax_class is None:
                    tax_class = services.tax_class_create(**form.cleaned_data, actor=request.user)
                else:
                    tax_class = services.tax_class_update(
                        tax_class=tax_class, **form.cleaned_data, actor=request.user
                    )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Tax class %(name)s saved.") % {"name": tax_class.name})
                return redirect("catalog:taxclass_list")
        return render(request, self.template_name, {"form": form, "tax_class": tax_class})
