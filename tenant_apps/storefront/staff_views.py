"""Staff pages of the shop: its settings (terms text, link and version, invoice payment)
and the sections its catalog is listed in."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import FormView

from tenant_apps.accounts.permissions import StaffRequiredMixin
from tenant_apps.instance.forms import form_add_service_errors

from . import selectors, services
from .forms import ShopGroupForm, StorefrontSettingsForm
from .models import ShopGroup


class ManagerWritesMixin(StaffRequiredMixin):
    """Any staff member reads; the owner and administrators change the shop."""

    def dispatch(self, request, *args, **kwargs):
        if (
            request.method == "POST"
            and request.user.is_authenticated
            and not request.user.can_manage_instance
        ):
            raise PermissionDenied(_("Only the owner and administrators change the shop."))
        return super().dispatch(request, *args, **kwargs)


class StorefrontSettingsView(ManagerWritesMixin, FormView):
    template_name = "storefront/settings.html"
    form_class = StorefrontSettingsForm

    def get_initial(self):
        row = selectors.storefront_settings_get()
        return {name: getattr(row, name) for name in services.SETTINGS_FIELDS}

    def form_valid(self, form):
        try:
            services.storefront_settings_set(actor=self.request.user, **form.cleaned_data)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, _("The shop's settings were saved."))
        return redirect("storefront_staff:settings")


def _group_or_404(pk) -> ShopGroup:
    group = ShopGroup.objects.filter(pk=pk).first()
    if group is None:
        raise Http404("No such section.")
    return group


class ShopGroupListView(ManagerWritesMixin, View):
    """The shop's sections, and a form to add one."""

    template_name = "storefront/groups.html"

    def page(self, form, status: int = 200):
        return render(
            self.request,
            self.template_name,
            {"groups": selectors.shop_groups(), "form": form},
            status=status,
        )

    def get(self, request):
        return self.page(ShopGroupForm())

    def post(self, request):
        form = ShopGroupForm(request.POST)
        if form.is_valid():
            try:
                services.shop_group_save(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("The section “%(name)s” was added.") % {"name": form.cleaned_data["name"]},
                )
                return redirect("storefront_staff:groups")
        return self.page(form)


class ShopGroupEditView(ManagerWritesMixin, View):
    template_name = "storefront/group_edit.html"

    def get(self, request, pk: int):
        group = _group_or_404(pk)
        form = ShopGroupForm(
            initial={
                "name": group.name,
                "description": group.description,
                "position": group.position,
                "plans": list(group.plans.all()),
            }
        )
        return render(request, self.template_name, {"group": group, "form": form})

    def post(self, request, pk: int):
        group = _group_or_404(pk)
        if request.POST.get("delete"):
            services.shop_group_delete(group=group, actor=request.user)
            messages.success(
                request, _("The section “%(name)s” was removed.") % {"name": group.name}
            )
            return redirect("storefront_staff:groups")
        form = ShopGroupForm(request.POST)
        if form.is_valid():
            try:
                services.shop_group_save(group=group, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("The section was saved."))
                return redirect("storefront_staff:groups")
        return render(request, self.template_name, {"group": group, "form": form})
