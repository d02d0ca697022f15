"""Operator console screens: reseller list, creation, detail, allocations and lifecycle."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Sum
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import FormView, TemplateView
from django_tables2 import RequestConfig

from provisioning.models import PoolSchema, TemplateSnapshot
from shared_apps.tenancy import services
from shared_apps.tenancy.models import Allocation, Reseller, Resource
from shared_apps.tenancy.selectors import (
    reseller_activity,
    reseller_get,
    reseller_list,
    suspension_policy_get,
)
from tenant_apps.accounts.permissions import StaffRequiredMixin
from tenant_apps.commissions.selectors import customer_referral
from tenant_apps.instance import audit
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.forms import form_add_service_errors as apply_errors

from .forms import (
    AllocationForm,
    DeleteForm,
    DomainForm,
    ResellerCreateForm,
    StatusForm,
    SuspensionPolicyForm,
)
from .tables import ResellerFilter, ResellerTable


def activity_rows(events) -> list[dict]:
    """The operator's trail about resellers, as the console shows it: the event's label
    (never its code), who did it, when, and one line of what changed."""
    resources = dict(Resource.objects.values_list("code", "name"))
    rows = []
    for event in events:
        detail = event.detail or {}
        parts = []
        for field, change in (event.changes or {}).items():
            old, new = (list(change) + [None, None])[:2]
            name = audit.field_label(event.object_type, field)
            if field == "quantity" and detail.get("resource"):
                name = resources.get(detail["resource"], detail["resource"])
            old_text = audit.value_label(event.object_type, field, old)
            new_text = audit.value_label(event.object_type, field, new)
            parts.append(f"{name}: {old_text} → {new_text}")
        for key in ("domain", "reason"):
            if detail.get(key):
                parts.append(str(detail[key]))
        rows.append(
            {
                "created_at": event.created_at,
                "label": audit.event_label(event.action),
                "actor": event.actor_label or audit.SYSTEM,
                "reseller": event.object_label,
                "summary": " · ".join(parts),
            }
        )
    return rows


class OperatorStaffMixin(StaffRequiredMixin):
    """Console pages: operator staff only, and only on the operator's own domain."""

    def dispatch(self, request, *args, **kwargs):
        if not getattr(request, "tenant", None) or not request.tenant.is_operator:
            raise Http404("The console lives on the operator's domain.")
        return super().dispatch(request, *args, **kwargs)


class OperatorManagerMixin(OperatorStaffMixin):
    """Writes in the console: owners and administrators of the operator only."""

    def check_manager(self):
        if not self.request.user.can_manage_instance:
            raise PermissionDenied(_("Only the operator's owner or administrators can do this."))


class ConsoleDashboardView(OperatorStaffMixin, TemplateView):
    template_name = "console/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        by_status = dict(Reseller.objects.values_list("status").annotate(n=Count("id")))
        context["counts"] = {
            "total": sum(by_status.values()),
            "active": by_status.get(Reseller.Status.ACTIVE, 0),
            "suspended": by_status.get(Reseller.Status.SUSPENDED, 0),
            "terminated": by_status.get(Reseller.Status.TERMINATED, 0),
        }
        context["capacity"] = [
            {
                **row,
                "percent": round(100 * row["used"] / row["allocated"]) if row["allocated"] else 0,
            }
            for row in Allocation.objects.values(
                "resource__name", "resource__unit", "resource__position"
            )
            .annotate(allocated=Sum("quantity"), used=Sum("used"))
            .order_by("resource__position")
        ]
        context["pool_ready"] = PoolSchema.objects.count()
        context["pool_target"] = settings.UPLINE_POOL_SIZE
        context["template"] = TemplateSnapshot.objects.first()
        context["events"] = activity_rows(reseller_activity(limit=10))
        return context


class ResellerListView(OperatorStaffMixin, TemplateView):
    template_name = "console/reseller_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = ResellerFilter(self.request.GET or None, queryset=reseller_list())
        table = ResellerTable(filterset.qs if filterset.is_bound else filterset.queryset)
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        context.update(filter=filterset, table=table, any_resellers=Reseller.objects.exists())
        return context


class ResellerCreateView(OperatorManagerMixin, FormView):
    template_name = "console/reseller_create.html"
    form_class = ResellerCreateForm

    def form_valid(self, form):
        self.check_manager()
        data = form.cleaned_data
        try:
            reseller = services.reseller_create(
                slug=data["slug"],
                name=data["name"],
                legal_name=data["legal_name"],
                owner_email=data["owner_email"],
                owner_name=data["owner_name"],
                owner_password=data["owner_password"] or None,
                custom_domains=data["custom_domains"],
                allocations=form.allocations(),
                actor=self.request.user,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
            return self.form_invalid(form)
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        messages.success(
            self.request,
            _(
                "%(name)s is live at %(primary_domain_name)s (built from the "
                "%(provisioned_by)s in %(provisioning_ms)s ms)."
            )
            % {
                "name": reseller.name,
                "primary_domain_name": reseller.primary_domain_name(),
                "provisioned_by": reseller.provisioned_by,
                "provisioning_ms": reseller.provisioning_ms,
            },
        )
        return redirect("console:reseller_detail", slug=reseller.slug)


class ResellerMixin(OperatorStaffMixin):
    def get_reseller(self) -> Reseller:
        try:
            return reseller_get(slug=self.kwargs["slug"])
        except Reseller.DoesNotExist as exc:
            raise Http404("No such reseller.") from exc


class ResellerDetailView(ResellerMixin, TemplateView):
    template_name = "console/reseller_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        reseller = self.get_reseller()
        context.update(
            reseller=reseller,
            allocation_form=kwargs.get("allocation_form") or AllocationForm(reseller=reseller),
            domain_form=kwargs.get("domain_form") or DomainForm(),
            status_form=StatusForm(),
            delete_form=kwargs.get("delete_form") or DeleteForm(),
            events=activity_rows(reseller_activity(reseller=reseller, limit=15)),
            # Which lifecycle buttons to offer: the moves the pipeline allows from here.
            moves={
                target: Reseller.pipeline.allows(reseller.status, target)
                for target in Reseller.Status.values
            },
            can_manage=self.request.user.can_manage_instance,
            # The operator's instance is the public schema: the reseller is a customer there,
            # and the order of its plan carries the partner who referred it.
            referral=customer_referral(reseller_id=reseller.pk),
        )
        return context


class ResellerActionView(ResellerMixin, OperatorManagerMixin, View):
    """POST-only actions on one reseller; each redirects back to its detail page."""

    def post(self, request, slug: str, action: str):
        self.check_manager()
        reseller = self.get_reseller()
        actor = request.user
        handler = getattr(self, f"do_{action}", None)
        if handler is None:
            raise Http404("Unknown action.")
        try:
            response = handler(reseller, actor)
        except DomainError as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            if response is not None:
                return response
        return redirect("console:reseller_detail", slug=reseller.slug)

    def do_suspend(self, reseller, actor):
        form = StatusForm(self.request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        services.reseller_suspend(reseller=reseller, reason=reason, actor=actor)
        messages.success(
            self.request, _("%(name)s is suspended; its data is kept.") % {"name": reseller.name}
        )

    def do_resume(self, reseller, actor):
        services.reseller_resume(reseller=reseller, actor=actor)
        messages.success(self.request, _("%(name)s is active again.") % {"name": reseller.name})

    def do_terminate(self, reseller, actor):
        form = StatusForm(self.request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        services.reseller_terminate(reseller=reseller, reason=reason, actor=actor)
        messages.success(
            self.request,
            _("%(name)s is terminated; export it before deleting.") % {"name": reseller.name},
        )

    def do_allocations(self, reseller, actor):
        form = AllocationForm(self.request.POST, reseller=reseller)
        if not form.is_valid():
            messages.error(self.request, _("Allocations are whole numbers, 0 or more."))
            return None
        current = {a.resource_id: a.quantity for a in reseller.allocations.all()}
        changed = 0
        with transaction.atomic():  # all or nothing when one value is refused
            for resource in form.resources:
                quantity = form.cleaned_data[resource.code]
                if current.get(resource.code) != quantity:
                    services.allocation_set(
                        reseller=reseller,
                        resource_code=resource.code,
                        quantity=quantity,
                        actor=actor,
                    )
                    changed += 1
        messages.success(
            self.request, _("Allocations saved (%(changed)s changed).") % {"changed": changed}
        )

    def do_escalation_price(self, reseller, actor):
        updated = services.reseller_set_escalation_price(
            reseller=reseller,
            price=self.request.POST.get("escalation_price", "").strip(),
            actor=actor,
        )
        price = updated.escalation_price
        messages.success(
            self.request,
            _("Each escalation from %(name)s now costs %(price)s.")
            % {"name": reseller.name, "price": price}
            if price is not None
            else _("Escalations from %(name)s are priced by its reseller plan.")
            % {"name": reseller.name},
        )

    def do_add_domain(self, reseller, actor):
        form = DomainForm(self.request.POST)
        if not form.is_valid():
            messages.error(self.request, _("Enter a domain name."))
            return None
        domain = services.domain_add(
            reseller=reseller, domain=form.cleaned_data["domain"], actor=actor
        )
        messages.success(
            self.request,
            _("%(domain)s now routes to %(name)s.")
            % {"domain": domain.domain, "name": reseller.name},
        )

    def do_remove_domain(self, reseller, actor):
        services.domain_remove(
            reseller=reseller, domain=self.request.POST.get("domain", ""), actor=actor
        )
        messages.success(self.request, _("Domain removed."))

    def do_export(self, reseller, actor):
        record = services.reseller_export(
            reseller=reseller, directory=settings.UPLINE_EXPORT_DIR, actor=actor
        )
        messages.success(
            self.request,
            _("Exported to %(path)s (%(value)s KiB).")
            % {"path": record.path, "value": record.size_bytes // 1024 or 1},
        )

    def do_delete(self, reseller, actor):
        form = DeleteForm(self.request.POST)
        confirm = form.cleaned_data["confirm_slug"] if form.is_valid() else ""
        services.reseller_delete(reseller=reseller, confirm_slug=confirm, actor=actor)
        messages.success(
            self.request, _("%(name)s and its instance were deleted.") % {"name": reseller.name}
        )
        return redirect("console:reseller_list")


class EscalationListView(OperatorStaffMixin, TemplateView):
    """Escalations from every reseller, with the time each hop took."""

    template_name = "console/escalation_list.html"

    def get_context_data(self, **kwargs):
        from shared_apps.bridge.selectors import escalation_queue

        context = super().get_context_data(**kwargs)
        status = self.request.GET.get("status", "open")
        status = status if status in ("open", "closed", "") else "open"
        context.update(rows=escalation_queue(status=status or None), status=status)
        return context


class SuspensionPolicyView(OperatorManagerMixin, FormView):
    """What customers of a reseller suspended for non-payment see (owners and admins edit)."""

    template_name = "console/suspension_policy.html"
    form_class = SuspensionPolicyForm

    def get_initial(self):
        return {"customers_see": suspension_policy_get().customers_see}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_manage"] = self.request.user.can_manage_instance
        context["held"] = Reseller.objects.filter(
            status=Reseller.Status.SUSPENDED, held_by_billing=True
        ).order_by("name")
        return context

    def form_valid(self, form):
        self.check_manager()
        policy = services.suspension_policy_set(
            customers_see=form.cleaned_data["customers_see"], actor=self.request.user
        )
        messages.success(
            self.request,
            _("Customers of a reseller suspended for non-payment now see %(customers_see)s.")
            % {"customers_see": policy.get_customers_see_display().lower()},
        )
        return redirect("console:suspension_policy")
