"""Team screens of the staff area: the staff list, invitations, one member's role and access,
their second factor and API token, and whether the team must sign in with two factors.

Only the owner and administrators reach them (`TeamManagerMixin`); every write goes through
`tenant_apps.accounts.services`, whose refusals (last owner, owners-only changes) come back
as form errors or messages.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from tenant_apps.accounts import selectors, services
from tenant_apps.accounts.forms import SignInPolicyForm, StaffInviteForm, StaffRoleForm
from tenant_apps.accounts.models import Role, User
from tenant_apps.accounts.permissions import TeamManagerMixin
from tenant_apps.accounts.selectors import get_staff_member_for, staff_list
from tenant_apps.accounts.signins import client_ip
from tenant_apps.accounts.tables import StaffFilter, StaffTable
from tenant_apps.instance.audit import event_label
from tenant_apps.instance.forms import form_add_service_errors
from tenant_apps.instance.selectors import audit_event_list


class TeamView(TeamManagerMixin, TemplateView):
    """The team, filterable and sortable, with the invitation form beside it."""

    template_name = "dashboard/team.html"

    def invite_form(self, data=None) -> StaffInviteForm:
        return StaffInviteForm(data, offer_owner=self.request.user.role == Role.OWNER)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # Unbound (no query string) a filterset returns its queryset as given: the whole team.
        filterset = StaffFilter(self.request.GET or None, queryset=staff_list())
        table = StaffTable(filterset.qs)
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        policy = selectors.sign_in_policy_get()
        context.update(
            filter=filterset,
            table=table,
            form=kwargs.get("form") or self.invite_form(),
            operator_instance=selectors.is_operator_instance(),
            two_factor_enforced=selectors.two_factor_enforced_for_staff(),
            can_set_policy=self.request.user.role == Role.OWNER,
            policy_form=SignInPolicyForm(
                initial={"require_staff_two_factor": policy.require_staff_two_factor}
            ),
        )
        return context

    def post(self, request, *args, **kwargs):
        form = self.invite_form(request.POST)
        if form.is_valid():
            try:
                user = services.staff_invite(
                    email=form.cleaned_data["email"],
                    full_name=form.cleaned_data["full_name"],
                    role=form.cleaned_data["role"],
                    domain=request.get_host(),
                    use_https=request.is_secure(),
                    actor=request.user,
                    ip_address=client_ip(request),
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            except PermissionDenied as exc:
                form.add_error("role", str(exc))
            else:
                messages.success(
                    request,
                    _("%(email)s was invited and will receive a link to set a password.")
                    % {"email": user.email},
                )
                return redirect("dashboard:staff_list")
        return self.render_to_response(self.get_context_data(form=form))


class SignInPolicyView(TeamManagerMixin, View):
    """POST-only: whether this instance's staff must sign in with a second factor (owners)."""

    http_method_names = ["post"]

    def post(self, request):
        form = SignInPolicyForm(request.POST)
        form.is_valid()  # a checkbox: absent means off, nothing else can be wrong
        required = bool(form.cleaned_data.get("require_staff_two_factor"))
        try:
            services.sign_in_policy_set(require_staff_two_factor=required, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except PermissionDenied as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                _(
                    "Staff now sign in with a code from their phone too; those without an app "
                    "are asked to set one up on their next page."
                )
                if required
                else _("Two-factor sign-in is now each staff member's choice."),
            )
        return redirect("dashboard:staff_list")


class StaffMemberMixin(TeamManagerMixin):
    def get_member(self) -> User:
        try:
            return get_staff_member_for(self.request.user, self.kwargs["pk"])
        except User.DoesNotExist as exc:
            raise Http404("No such team member.") from exc

    def may_change(self, member: User) -> bool:
        """Owners' accounts are changed by owners only (the service enforces it too)."""
        return member.role != Role.OWNER or self.request.user.role == Role.OWNER


class StaffMemberView(StaffMemberMixin, TemplateView):
    """One member: role (changeable), status, deactivate or reactivate, their recent activity."""

    template_name = "dashboard/team_member.html"

    def role_form(self, member: User, data=None) -> StaffRoleForm:
        return StaffRoleForm(
            data,
            initial={"role": member.role},
            offer_owner=self.request.user.role == Role.OWNER,
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        member = kwargs.get("member") or self.get_member()
        token = selectors.api_token_for(member)
        context.update(
            member=member,
            is_self=member.pk == self.request.user.pk,
            can_change=self.may_change(member),
            two_factor=selectors.two_factor_status(member),
            # Resetting someone's second factor is an owner's call (the service decides too).
            can_reset_two_factor=self.request.user.role == Role.OWNER,
            token=token,
            token_last_used=selectors.api_token_last_used(token),
            form=kwargs.get("form") or self.role_form(member),
            events=[
                {
                    "created_at": event.created_at,
                    "label": event_label(event.action),
                    "actor": event.actor_label or "system",
                }
                for event in audit_event_list(object_type="user", object_id=str(member.pk))[:20]
            ],
        )
        return context

    def post(self, request, *args, **kwargs):
        member = self.get_member()
        form = self.role_form(member, request.POST)
        if form.is_valid():
            try:
                changed = services.staff_role_change(
                    user=member, role=form.cleaned_data["role"], actor=request.user
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            except PermissionDenied as exc:
                form.add_error("role", str(exc))
            else:
                messages.success(
                    request,
                    _("%(email)s is now %(role)s.")
                    % {"email": changed.email, "role": changed.get_role_display()},
                )
                return redirect("dashboard:staff_member", pk=member.pk)
        return self.render_to_response(self.get_context_data(member=member, form=form))


class _MemberActionView(StaffMemberMixin, View):
    """POST-only: one action on a member (`act` returns what to tell the user), a refusal
    shown as a message, then back to their page."""

    http_method_names = ["post"]

    def act(self, member, actor) -> str:
        raise NotImplementedError

    def post(self, request, pk: int):
        member = self.get_member()
        try:
            done = self.act(member, request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except PermissionDenied as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, done)
        return redirect("dashboard:staff_member", pk=member.pk)


class StaffAccessView(_MemberActionView):
    """Deactivate or reactivate a member."""

    reactivate = False

    def act(self, member, actor) -> str:
        if self.reactivate:
            services.staff_reactivate(user=member, actor=actor)
            return _("%(email)s can sign in again.") % {"email": member.email}
        services.staff_deactivate(user=member, actor=actor)
        return _("%(email)s is deactivated: their sessions and API token ended now.") % {
            "email": member.email
        }


class StaffTwoFactorResetView(_MemberActionView):
    """An owner clears a member's authenticator app and recovery codes."""

    def act(self, member, actor) -> str:
        services.two_factor_reset(user=member, actor=actor)
        return _(
            "%(email)s's two-factor sign-in was reset: their app and recovery codes no longer work."
        ) % {"email": member.email}


class StaffApiTokenRevokeView(_MemberActionView):
    """Revoke a member's API token (scripts using it stop at once)."""

    def act(self, member, actor) -> str:
        if services.staff_api_token_revoke(user=member, actor=actor):
            return _("%(email)s's API token was revoked.") % {"email": member.email}
        return _("%(email)s has no API token.") % {"email": member.email}
