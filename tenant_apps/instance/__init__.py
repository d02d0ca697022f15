"""The instance core: what every app of an instance stands on.

Money (currency precision and the one rounding function), the issuer identity, e-mail
templates and their renderer, the instance's public address, the audit trail, state
pipelines and the ports through which the platform plugs in. It imports no other app.
"""
