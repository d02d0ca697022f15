"""Commissions of referral partners: rules, the ledger of what they earn, payouts, statements."""
