"""Helpdesk of every instance: departments, tickets, conversations, attachments, SLA, outbox."""
