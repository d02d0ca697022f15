"""Invoicing in every instance; for now the instance's issuer identity (issuer of record)."""
