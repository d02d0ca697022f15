"""The instance's public shop: catalog, cart, sign-up with e-mail verification, checkout."""
