"""Outgoing e-mail of an instance: how it is sent (the operator's relay, the instance's own
SMTP server or a provider through django-anymail), the HTML and plain-text parts around the
wording `instance.emails` renders, and the outbox that records every message, sends it from
a worker, retries failures with backoff and keeps the log staff see.

It stands right above the instance core and below every app that sends mail, so it imports
no app but `instance`; its screens live in the staff area (`dashboard.mail`).
"""
