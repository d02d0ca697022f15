"""Referers: who sent a customer (link codes, typed codes, staff choice), for commissions."""
