"""The customer-facing client area of an instance."""
