"""Stripe webhooks for the whole platform: which instance owns which Stripe account, and
every event received once."""
