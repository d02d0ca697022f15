"""API representations of accounts."""

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Role, User
from .selectors import two_factor_status


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "full_name", "role", "is_active", "date_joined"]
        read_only_fields = fields


class TwoFactorStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(read_only=True)
    required = serializers.BooleanField(
        read_only=True,
        help_text=gettext_lazy("Staff of this instance must sign in with a second factor."),
    )
    recovery_codes_left = serializers.IntegerField(read_only=True)


class MeSerializer(UserSerializer):
    """The signed-in user, with their two-factor sign-in status (read-only: it is set up
    and turned off on the security page, never through the API)."""

    two_factor = serializers.SerializerMethodField()

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "two_factor"]
        read_only_fields = fields

    @extend_schema_field(TwoFactorStatusSerializer)
    def get_two_factor(self, user: User) -> dict:
        return TwoFactorStatusSerializer(two_factor_status(user)).data


# The model's choice set (one enum in the API schema); the services refuse `customer`.
ROLE_HELP = gettext_lazy("owner, admin, billing or support")


class StaffInviteSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    full_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=Role.choices, help_text=ROLE_HELP)


class StaffRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, help_text=ROLE_HELP)
