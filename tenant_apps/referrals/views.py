"""Staff screens of referers: list with share links and order counts, create, edit, (de)activate."""

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
from tenant_apps.accounts.signins import client_ip
from tenant_apps.instance.forms import form_add_service_errors as _apply_errors

from . import services
from .forms import RefererCodeForm, RefererForm, RefererInviteForm
from .links import base_url, share_link
from .models import Referer, RefererCode
from .selectors import get_referer_for, referer_list
from .tables import RefererFilter, RefererTable


class RefererManagerMixin(StaffRequiredMixin):
    """Screens that change referers: the owner and administrators only."""

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_instance_staff and not user.can_manage_instance:
            raise PermissionDenied(_("Only the owner or an administrator can change referers."))
        return super().dispatch(request, *args, **kwargs)


def _referer_or_404(request, pk: int) -> Referer:
    try:
        return get_referer_for(request.user, pk)
    except Referer.DoesNotExist as exc:
        raise Http404("No such referer.") from exc


class RefererListView(StaffRequiredMixin, TemplateView):
    template_name = "referrals/referer_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = RefererFilter(self.request.GET or None, queryset=referer_list())
        table = RefererTable(filterset.qs, base_url=base_url(self.request))
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        context.update(
            filter=filterset,
            table=table,
            any_referers=Referer.objects.exists(),
            can_manage=self.request.user.can_manage_instance,
            example_link=share_link(base_url(self.request), "CODE"),
        )
        return context


class RefererFormView(RefererManagerMixin, View):
    """Create (no pk) or edit (pk) a referer."""

    template_name = "referrals/referer_form.html"

    def get_referer(self) -> Referer | None:
        pk = self.kwargs.get("pk")
        return _referer_or_404(self.request, pk) if pk is not None else None

    def render_page(self, form, referer):
        link = share_link(base_url(self.request), referer.code) if referer else ""
        return render(
            self.request,
            self.template_name,
            {
                "form": form,
                "referer": referer,
                "link": link,
                "code_form": RefererCodeForm(),
                "invite_form": RefererInviteForm(),
                "base_link": base_url(self.request),
            },
        )

    def get(self, request, pk: int | None = None):
        referer = self.get_referer()
        form = RefererForm.for_referer(referer) if referer else RefererForm()
        return self.render_page(form, referer)

    def post(self, request, pk: int | None = None):
        referer = self.get_referer()
        form = RefererForm(request.POST)
        if form.is_valid():
            try:
                if referer is None:
                    referer = services.referer_create(**form.cleaned_data, actor=request.user)
                else:
                    referer = services.referer_update(
                        referer=referer, **form.cleaned_data, actor=request.user
                    )
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("%(name)s saved. Share link: %(share_link)s")
                    % {
                        "name": referer.name,
                        "share_link": share_link(base_url(request), referer.code),
                    },
                )
                return redirect("referrals:referer_list")
        return self.render_page(form, referer)


class RefererStatusView(RefererManagerMixin, View):
    """POST only: deactivate or reactivate a referer."""

    http_method_names = ["post"]
    activate = False

    def post(self, request, pk: int):
        referer = _referer_or_404(request, pk)
        if self.activate:
            services.referer_reactivate(referer=referer, actor=request.user)
            messages.success(
                request, _("%(name)s's links and code work again.") % {"name": referer.name}
            )
        else:
            services.referer_deactivate(referer=referer, actor=request.user)
            messages.success(
                request,
                _("%(name)s is deactivated; their links and code no longer count.")
                % {"name": referer.name},
            )
        return redirect("referrals:referer_list")


class RefererCodeAddView(RefererManagerMixin, View):
    """POST only: give a partner a further link or checkout code."""

    http_method_names = ["post"]

    def post(self, request, pk: int):
        referer = _referer_or_404(request, pk)
        form = RefererCodeForm(request.POST)
        if form.is_valid():
            try:
                services.referer_code_add(referer=referer, **form.cleaned_data, actor=request.user)
            except ValidationError as exc:
                for error in exc.messages:
                    messages.error(request, error)
            else:
                messages.success(
                    request, _("Code “%(code)s” added.") % {"code": form.cleaned_data["code"]}
                )
        else:
            messages.error(request, _("Enter a code and choose its kind."))
        return redirect("referrals:referer_edit", pk=referer.pk)


class RefererCodeRemoveView(RefererManagerMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk: int, code_id: int):
        referer = _referer_or_404(request, pk)
        code = RefererCode.objects.filter(referer=referer, pk=code_id).first()
        if code is None:
            raise Http404("No such code.")
        services.referer_code_remove(code=code, actor=request.user)
        messages.success(
            request,
            _("Code “%(code)s” removed; links with it no longer count.") % {"code": code.code},
        )
        return redirect("referrals:referer_edit", pk=referer.pk)


class RefererInviteView(RefererManagerMixin, View):
    """POST only: give the partner a portal login (through its customer record)."""

    http_method_names = ["post"]

    def post(self, request, pk: int):
        referer = _referer_or_404(request, pk)
        form = RefererInviteForm(request.POST)
        country = form.cleaned_data.get("country", "") if form.is_valid() else ""
        try:
            user = services.referer_portal_invite(
                referer=referer,
                domain=request.get_host(),
                use_https=request.is_secure(),
                country=country,
                actor=request.user,
                ip_address=client_ip(request),
            )
        except ValidationError as exc:
            for error in exc.messages:
                messages.error(request, error)
        else:
            messages.success(
                request,
                _(
                    "%(email)s can now sign in to see their referrals; a link to set a "
                    "password is on its way."
                )
                % {"email": user.email},
            )
        return redirect("referrals:referer_edit", pk=referer.pk)
