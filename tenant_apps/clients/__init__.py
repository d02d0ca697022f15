"""Customers of an instance: people and companies, contacts, addresses, tax ids, credit."""
