"""API authentication: DRF's token check, noting when each token was last used.

Tokens are unaffected by two-factor sign-in (a script cannot type a code); what keeps them
in hand is that their owner sees each one, with when it was last used, and can revoke it,
and that an owner can revoke a staff member's from the team screen.
"""

from __future__ import annotations

from rest_framework import authentication

from . import services


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        services.api_token_touch(token=token)
        return user, token
