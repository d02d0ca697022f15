"""Resellers, their domains and allocations, and their lifecycle (public schema only)."""
