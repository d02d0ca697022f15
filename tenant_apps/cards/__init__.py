"""Card payments with Stripe Connect: each instance is the merchant of record of its own
invoices and takes cards into its own Stripe account."""
