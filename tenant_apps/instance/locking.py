"""The one lock order for money writes in an instance, written down once.

Every service that locks more than one kind of row takes them in this order, and never
takes a row of an earlier kind while it holds a row of a later kind:

    1. Order            orders.order_accept / order_cancel
    2. Service          service transitions, plan changes, renewals (a batch, by id),
                        dunning (the services an overdue invoice bills, by id)
    3. Allocation       the operator's capacity row of the instance (public schema), taken
                        through `orders.ports.capacity_reserve/release` while a service moves
    3b. CardPayment     a card payment applied or refunded (cards): Stripe's news is applied
                        under its row lock, then billing's payment or refund takes the rest
    3c. Referer         a partner's commission payout (commissions.payout_record) …
    3d. CommissionEntry … and the ledger entries it settles; an account-credit payout then
                        takes the partner's Customer. The ledger sync after a billing event
                        takes only the Invoice (5); correcting an order's referer takes the
                        Order (1), then each Invoice it re-syncs
    4. Customer         balances: payments, credit, credit notes
    5. Invoice          drafts being edited or issued, invoices being paid, voided, reminded
    6. PendingCharge    charges riding on the next renewal invoice
    7. NumberSequence   the gap-free counter, always last: it is held until commit, so
                        nothing may wait on another lock while holding it

Rows of one kind are locked in primary-key order. Two runs that overlap in one instance
(renewals and dunning, a manual "Run now" and the schedule) therefore wait for each other
instead of deadlocking; `tests/test_recurring_concurrency.py` runs them together.
"""

LOCK_ORDER = (
    "orders.Order",
    "orders.Service",
    "tenancy.Allocation",
    "cards.CardPayment",
    "referrals.Referer",
    "commissions.CommissionEntry",
    "clients.Customer",
    "billing.Invoice",
    "billing.PendingCharge",
    "billing.NumberSequence",
)
