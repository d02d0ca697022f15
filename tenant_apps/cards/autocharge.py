"""Automatic card charges of renewal invoices: the customer's default saved card pays them,
off-session, when the customer opted in (`CardSettings.auto_charge_renewals`).

When:
- the renewal run issues an invoice → one attempt is scheduled in the same transaction and
  a task charges it after commit (`renewal_invoices_schedule`);
- the dunning run reaches a new dunning step of an overdue renewal invoice → the card is
  tried again first, in the run itself, so that a charge that succeeds stops the reminder,
  the late fee and the suspension of that step (`dunning_retries_plan` / `dunning_retry`).
  At most one attempt per dunning step, never two on one day, never once nothing is due,
  and at most `MAX_ATTEMPTS_PER_INVOICE` in all.

How: each attempt (an `AutoChargeAttempt` row, made before anything is asked of Stripe) gets
its own CardPayment — one PaymentIntent per attempt, as the portal does after a decline —
created and confirmed in one call whose idempotency key names that CardPayment and the
attempt's number. The attempt is claimed (scheduled → charging) before the call, so a task
run twice, or a sweep that finds it, either finds the outcome recorded or asks Stripe again
with the same key and gets the first answer back: a card is never charged twice for one
attempt. Stripe's answer goes through `services.card_intent_apply`, the path of every card
payment: a success records the one billing payment (the invoice is paid, its services
renewed); a decline or an authentication the bank asks for marks the attempt unsuccessful
and e-mails the customer a link to pay (`notifications`: the portal's card page, or for a
reseller billed by the operator its own supplier bill page). `auto_charges_sweep` (hourly)
finishes what a lost task or an unanswered call left.

Lock order (tenant_apps/instance/locking.py): the attempt row is locked alone, in short
transactions; Stripe is called with no row locked; the card payment and billing's rows
are then taken by `card_intent_apply` in the documented order.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from tenant_apps.billing.models import BillingSettings, Invoice
from tenant_apps.instance import audit
from tenant_apps.instance.pipelines import transition

from . import selectors, services
from .gateway import CardDeclined, GatewayUnavailable
from .models import AutoChargeAttempt, CardPayment, CardsNotSetUp

logger = logging.getLogger(__name__)

AUTO_CHARGE_SCHEDULED = audit.event_type(
    "autochargeattempt.scheduled", gettext_noop("Automatic card charge scheduled")
)
AUTO_CHARGE_SUCCEEDED = audit.event_type(
    "autochargeattempt.succeeded", gettext_noop("Card charged automatically")
)
AUTO_CHARGE_FAILED = audit.event_type(
    "autochargeattempt.failed", gettext_noop("Automatic card charge failed")
)
AUTO_CHARGE_PROCESSING = audit.event_type(
    "autochargeattempt.processing", gettext_noop("Automatic card charge processing")
)
AUTO_CHARGE_SKIPPED = audit.event_type(
    "autochargeattempt.skipped", gettext_noop("Automatic card charge not made")
)

# The charge at issue plus three retries on dunning steps: enough for a card that was
# briefly over its limit, not so many that a dead card is hammered for months.
MAX_ATTEMPTS_PER_INVOICE = 4
# An attempt still scheduled (or charging) this long after it was made lost its task (a
# broker outage, a worker killed mid-call): the sweep runs it.
STALE_AFTER = datetime.timedelta(minutes=10)
# Stripe remembers an idempotency key for 24 hours: after that, asking again could charge a
# second time, so a charge Stripe never answered is given up (and said so) instead.
KEY_LIFETIME = datetime.timedelta(hours=23)
# The customer is told of a failure this long after it at the latest (the sweep resends
# what a broker outage lost); later, the next dunning e-mail says it anyway.
NOTIFY_WITHIN = datetime.timedelta(days=3)

PAYABLE = (Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID)


def _due(invoice: Invoice) -> bool:
    """Something is still due on `invoice` (as it stands in this object)."""
    return invoice.status in PAYABLE and invoice.amount_due > 0


class _Skip(Exception):
    """An attempt that must not charge, with the sentence staff read on it."""


# --------------------------------------------------------------------------------------
# Who is charged


def dunning_step_days(settings_row: BillingSettings) -> list[int]:
    """Days overdue on which dunning does something new: each reminder, the late fee (when
    one is charged), the suspension and the termination. Each is a step the card is tried
    again on, first."""
    days = set(settings_row.reminder_days or [])
    if settings_row.late_fee_amount > 0 or settings_row.late_fee_percent > 0:
        days.add(settings_row.late_fee_after_days)
    for day in (settings_row.suspend_after_days, settings_row.terminate_after_days):
        if day is not None:
            days.add(day)
    return sorted(day for day in days if day >= 0)


def retry_days(settings_row: BillingSettings) -> list[int]:
    """Days after the due date the card is tried again on (the first dunning steps, as
    many as the bound leaves after the charge at issue): what the customer is told."""
    return dunning_step_days(settings_row)[: MAX_ATTEMPTS_PER_INVOICE - 1]


def _is_renewal_invoice(invoice: Invoice) -> bool:
    # The customer agreed to renewal invoices being charged: those the renewal run issued.
    return invoice.kind == Invoice.Kind.INVOICE and invoice.billing_run_id is not None


def _refusal(invoice: Invoice, *, cards: Mapping[int, object] | None = None) -> str:
    """Why `invoice` must not be charged automatically now ("" when it may)."""
    if not _due(invoice):
        return f"Nothing is due on invoice {invoice} any more."
    if not _is_renewal_invoice(invoice):
        return f"Invoice {invoice} is not a renewal invoice."
    if not selectors.card_setup().ready:
        return "Card payments are not set up."
    if cards is None:
        cards = selectors.auto_charge_cards_for([invoice.customer_id])
    if invoice.customer_id not in cards:
        return "The customer turned automatic payment off or has no default card."
    return ""


# --------------------------------------------------------------------------------------
# Scheduling


def renewal_invoices_schedule(
    *, invoices: Sequence[Invoice], today: datetime.date, actor=None
) -> list[int]:
    """Inside the renewal run's transaction: schedule one attempt per renewal invoice of a
    customer who opted in and has a default card; the charges run after commit, one task
    each. Returns the attempts' ids."""
    due = [i for i in invoices if _due(i) and i.billing_run_id]
    if not due or not selectors.card_setup().ready:
        return []
    cards = selectors.auto_charge_cards_for({invoice.customer_id for invoice in due})
    attempts = [
        AutoChargeAttempt(
            invoice=invoice,
            customer_id=invoice.customer_id,
            number=1,
            trigger=AutoChargeAttempt.Trigger.RENEWAL,
            dunning_step=0,
            charge_date=today,
            card_label=str(cards[invoice.customer_id])[:64],
            payment_method_id=cards[invoice.customer_id].payment_method_id,
        )
        for invoice in due
        if invoice.customer_id in cards
    ]
    if not attempts:
        return []
    created = AutoChargeAttempt.objects.bulk_create(attempts, batch_size=1000)
    audit.audit_record_many(
        AUTO_CHARGE_SCHEDULED, created, actor=actor, detail={"trigger": "renewal"}
    )
    ids = [attempt.pk for attempt in created]
    schema = connection.schema_name

    def enqueue() -> None:
        from . import tasks

        tasks.auto_charges_later(ids, schema)

    transaction.on_commit(enqueue)
    return ids


def dunning_retries_plan(
    *, invoices: Iterable[Invoice], today: datetime.date, settings_row: BillingSettings
) -> dict[int, int]:
    """Of the overdue invoices a dunning run goes through, those whose card is tried again
    today: {invoice id: dunning step}. Three queries whatever the number of invoices."""
    step_days = dunning_step_days(settings_row)
    candidates: dict[int, tuple[Invoice, int]] = {}
    for invoice in invoices:
        if not _is_renewal_invoice(invoice) or invoice.due_date is None:
            continue
        overdue = (today - invoice.due_date).days
        step = sum(1 for day in step_days if day <= overdue)
        if step > 0:
            candidates[invoice.pk] = (invoice, step)
    if not candidates or not selectors.card_setup().ready:
        return {}
    cards = selectors.auto_charge_cards_for({inv.customer_id for inv, _ in candidates.values()})
    history = {
        row["invoice_id"]: row
        for row in AutoChargeAttempt.objects.filter(invoice_id__in=candidates)
        .order_by()
        .values("invoice_id")
        .annotate(made=Max("number"), step=Max("dunning_step"), last=Max("charge_date"))
    }
    plan = {}
    for invoice_id, (invoice, step) in candidates.items():
        if invoice.customer_id not in cards:
            continue
        done = history.get(invoice_id)
        if done is not None and (
            done["made"] >= MAX_ATTEMPTS_PER_INVOICE
            or done["step"] >= step
            or done["last"] >= today
        ):
            continue
        plan[invoice_id] = step
    return plan


def dunning_retry(
    *, invoice_id: int, step: int, today: datetime.date, actor=None
) -> AutoChargeAttempt | None:
    """Try the card again on dunning step `step`, now (the run waits for Stripe's answer:
    a success must stop the step's reminder). None when another run made this step's or
    today's attempt a moment ago. Stripe out of reach leaves the attempt charging for the
    sweep, and the run goes on with its reminder."""
    try:
        # No row lock: the attempt's unique (invoice, step) and (invoice, day) keep two runs
        # racing here to one attempt.
        with transaction.atomic():
            invoice = Invoice.objects.get(pk=invoice_id)
            if _refusal(invoice):
                return None
            number = (
                AutoChargeAttempt.objects.filter(invoice=invoice).aggregate(n=Max("number"))["n"]
                or 0
            ) + 1
            if number > MAX_ATTEMPTS_PER_INVOICE:
                return None
            card = selectors.auto_charge_cards_for([invoice.customer_id])[invoice.customer_id]
            attempt = AutoChargeAttempt.objects.create(
                invoice=invoice,
                customer_id=invoice.customer_id,
                number=number,
                trigger=AutoChargeAttempt.Trigger.DUNNING,
                dunning_step=step,
                charge_date=today,
                card_label=str(card)[:64],
                payment_method_id=card.payment_method_id,
            )
            audit.audit_record(
                AUTO_CHARGE_SCHEDULED,
                actor=actor,
                obj=attempt,
                detail={"trigger": "dunning", "step": step, "invoice": invoice.number},
            )
    except IntegrityError:
        return None  # this step's or today's attempt exists (a concurrent run made it)
    try:
        return auto_charge_attempt_run(attempt_id=attempt.pk, actor=actor)
    except GatewayUnavailable as exc:
        logger.warning("Automatic charge %s: %s", attempt.pk, exc)
        return AutoChargeAttempt.objects.get(pk=attempt.pk)


# --------------------------------------------------------------------------------------
# Charging


@dataclass(frozen=True)
class _Claim:
    attempt: AutoChargeAttempt
    proceed: bool


def _claim(attempt_id: int, *, actor) -> _Claim:
    """Move a scheduled attempt to charging, or skip it with the reason; an attempt already
    charging (its task died, or runs again) proceeds with its recorded card and key."""
    with transaction.atomic():
        attempt = (
            AutoChargeAttempt.objects.select_for_update(of=("self",))
            .select_related("invoice")
            .get(pk=attempt_id)
        )
        if attempt.status == AutoChargeAttempt.Status.CHARGING:
            return _Claim(attempt, True)
        if attempt.status != AutoChargeAttempt.Status.SCHEDULED:
            return _Claim(attempt, False)
        cards = selectors.auto_charge_cards_for([attempt.customer_id])
        reason = _refusal(attempt.invoice, cards=cards)
        if not reason and attempt.number > MAX_ATTEMPTS_PER_INVOICE:
            reason = f"{MAX_ATTEMPTS_PER_INVOICE} automatic charges were tried already."
        if reason:
            _finish(attempt, AutoChargeAttempt.Status.SKIPPED, message=reason, actor=actor)
            return _Claim(attempt, False)
        # The card charged is the default card now (the customer may have changed it since
        # the attempt was scheduled).
        card = cards[attempt.customer_id]
        attempt.status = AutoChargeAttempt.Status.CHARGING
        attempt.card_label = str(card)[:64]
        attempt.payment_method_id = card.payment_method_id
        attempt.charging_at = timezone.now()
        attempt.save(update_fields=["status", "card_label", "payment_method_id", "charging_at"])
    return _Claim(attempt, True)


def _card_payment_of(attempt: AutoChargeAttempt, *, gw, actor) -> CardPayment:
    """The attempt's own card payment, made once for what is due now. An open card payment
    of the invoice (an earlier declined attempt, a card form left open in the portal) is
    cancelled first: an invoice has one open card payment, and this attempt needs its own
    intent. One still processing stops the attempt: that payment may yet succeed."""
    if attempt.card_payment_id is not None:
        return CardPayment.objects.select_related("invoice", "customer").get(
            pk=attempt.card_payment_id
        )
    for _ in range(3):
        for open_payment in CardPayment.objects.filter(
            invoice_id=attempt.invoice_id, status__in=CardPayment.OPEN
        ):
            if open_payment.status == CardPayment.Status.PROCESSING:
                raise _Skip("Another card payment of this invoice is being processed.")
            services.card_payment_abandon(card_payment=open_payment, gw=gw, actor=actor)
        invoice = Invoice.objects.get(pk=attempt.invoice_id)
        if not _due(invoice):
            raise _Skip(f"Nothing is due on invoice {invoice} any more.")
        try:
            with transaction.atomic():
                locked = AutoChargeAttempt.objects.select_for_update().get(pk=attempt.pk)
                if locked.card_payment_id is not None:
                    return CardPayment.objects.select_related("invoice", "customer").get(
                        pk=locked.card_payment_id
                    )
                card_payment = services.card_payment_new(
                    invoice=invoice,
                    amount=invoice.amount_due,
                    gw=gw,
                    actor=actor,
                    attempts=1,
                    detail={"automatic": True, "attempt": locked.number},
                )
                locked.card_payment = card_payment
                locked.save(update_fields=["card_payment"])
            attempt.card_payment = card_payment
            return card_payment
        except IntegrityError:
            continue  # a card form opened a payment a moment ago: cancel it, then retry
    raise _Skip("Another payment of this invoice was being started.")


def auto_charge_attempt_run(*, attempt_id: int, actor=None) -> AutoChargeAttempt | None:
    """Charge one attempt (the task's and the dunning run's one entry). Idempotent: a
    finished attempt is returned as it is; one charging asks Stripe with the same key.
    None when the attempt does not exist in this instance. Raises GatewayUnavailable when
    Stripe could not be reached (the attempt stays charging, for a retry)."""
    actor = actor or audit.SCHEDULE
    if not AutoChargeAttempt.objects.filter(pk=attempt_id).exists():
        logger.info("Automatic charge %s is not one of this instance", attempt_id)
        return None
    claim = _claim(attempt_id, actor=actor)
    attempt = claim.attempt
    if not claim.proceed:
        return attempt
    Status = AutoChargeAttempt.Status
    card_payment: CardPayment | None = None
    try:
        gw = services._paying_gateway()
        card_payment = _card_payment_of(attempt, gw=gw, actor=actor)
        if not card_payment.intent_id and not _still_due(attempt.invoice_id):
            # Run again after the invoice was paid another way: not asked of Stripe. (Had
            # the first call reached Stripe, its charge is in the Stripe dashboard.)
            raise _Skip("Nothing is due on the invoice any more.")
        intent = _charge(attempt, card_payment, gw=gw)
    except (CardsNotSetUp, _Skip) as exc:
        if card_payment is not None:
            _void_unsent(card_payment, actor=actor)
        return _settle(attempt, Status.SKIPPED, message=str(exc), actor=actor)
    except CardDeclined as exc:
        # Refused without an intent (a detached card): nothing to apply, the payment is void.
        if card_payment is not None:
            _void_unsent(card_payment, actor=actor)
        return _settle(attempt, Status.FAILED, message=str(exc), actor=actor)
    applied = services.card_intent_apply(intent=intent, actor=actor) or card_payment
    return _settle_from(attempt, applied, intent=intent, actor=actor)


def _void_unsent(card_payment: CardPayment, *, actor) -> None:
    """Cancel a card payment Stripe never made an intent for (nothing to cancel there)."""
    with transaction.atomic():
        locked = CardPayment.objects.select_for_update().get(pk=card_payment.pk)
        if locked.intent_id or locked.status != CardPayment.Status.PENDING:
            return
        transition(locked, CardPayment.Status.CANCELED, noun=gettext("The card payment"))
        locked.save(update_fields=["status", "updated_at"])
        audit.audit_record(services.CARD_PAYMENT_CANCELED, actor=actor, obj=locked)


def _still_due(invoice_id: int) -> bool:
    return _due(Invoice.objects.get(pk=invoice_id))


def _charge(attempt: AutoChargeAttempt, card_payment: CardPayment, *, gw) -> dict:
    if card_payment.intent_id:
        # Asked before (the task runs again): Stripe's news, not a second charge.
        return gw.payment_intent_retrieve(card_payment.intent_id)
    stripe_customer = services.stripe_customer_ensure(customer=card_payment.customer, gw=gw)
    intent = gw.payment_intent_charge_saved_card(
        card_payment_pk=card_payment.pk,
        attempt=attempt.number,
        amount=card_payment.amount,
        currency=card_payment.currency,
        stripe_customer=stripe_customer,
        payment_method=attempt.payment_method_id,
        metadata={
            "upline_schema": connection.schema_name,
            "upline_card_payment": str(card_payment.pk),
            "upline_invoice": card_payment.invoice.number or "",
            "upline_auto_charge": str(attempt.number),
        },
        application_fee=card_payment.application_fee,
    )
    CardPayment.objects.filter(pk=card_payment.pk, intent_id__isnull=True).update(
        intent_id=intent["id"]
    )
    return intent


def _settle_from(
    attempt: AutoChargeAttempt, card_payment: CardPayment, *, intent: Mapping, actor
) -> AutoChargeAttempt:
    Status = AutoChargeAttempt.Status
    error = intent.get("last_payment_error") or {}
    if card_payment.status == CardPayment.Status.SUCCEEDED:
        return _settle(attempt, Status.SUCCEEDED, actor=actor)
    if card_payment.status == CardPayment.Status.PROCESSING:
        return _settle(attempt, Status.PROCESSING, actor=actor)
    if card_payment.status == CardPayment.Status.REQUIRES_ACTION or (
        error.get("code") == "authentication_required"
    ):
        return _settle(
            attempt,
            Status.REQUIRES_ACTION,
            message="Your bank asks you to confirm this payment yourself.",
            actor=actor,
        )
    message = card_payment.failure_message or str(error.get("message") or "")
    return _settle(attempt, Status.FAILED, message=message or "The card was declined.", actor=actor)


def _settle(attempt: AutoChargeAttempt, status: str, *, message: str = "", actor):
    with transaction.atomic():
        locked = AutoChargeAttempt.objects.select_for_update().get(pk=attempt.pk)
        if locked.status in AutoChargeAttempt.FINAL:
            return locked  # settled by a concurrent run of the same attempt
        _finish(locked, status, message=message, actor=actor)
    return locked


def _finish(
    attempt: AutoChargeAttempt, status: str, *, message: str = "", actor, notify: bool = True
) -> None:
    """Record the attempt's outcome (the caller holds its row lock) and, when the card
    could not be charged, tell the customer after commit."""
    before = attempt.status
    audit_type = {
        AutoChargeAttempt.Status.SUCCEEDED: AUTO_CHARGE_SUCCEEDED,
        AutoChargeAttempt.Status.PROCESSING: AUTO_CHARGE_PROCESSING,
        AutoChargeAttempt.Status.SKIPPED: AUTO_CHARGE_SKIPPED,
    }.get(status, AUTO_CHARGE_FAILED)
    transition(attempt, status, noun=gettext("The automatic charge"))
    attempt.failure_message = message[:500]
    attempt.finished_at = timezone.now()
    attempt.save(update_fields=["status", "failure_message", "finished_at"])
    audit.audit_record(
        audit_type,
        actor=actor,
        obj=attempt,
        changes={"status": [before, status]},
        detail={
            "invoice": attempt.invoice.number if attempt.invoice_id else "",
            "attempt": attempt.number,
            "card": attempt.card_label,
            "card_payment": attempt.card_payment_id,
            "message": message,
        },
    )
    if notify and status in AutoChargeAttempt.UNSUCCESSFUL:
        attempt_id, schema = attempt.pk, connection.schema_name

        def send() -> None:
            from . import tasks

            tasks.auto_charge_failed_later(attempt_id, schema)

        transaction.on_commit(send)


# --------------------------------------------------------------------------------------
# What a lost task left behind


def auto_charges_sweep(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Finish what a broker outage or a dead worker left: attempts never run, charges
    Stripe may have answered, processing charges Stripe has settled since, and failure
    e-mails never sent. Safe to run at any time (each step is idempotent)."""
    now = now or timezone.now()
    stale = now - STALE_AFTER
    done = {"charged": 0, "given_up": 0, "settled": 0, "notified": 0}
    for attempt in AutoChargeAttempt.objects.filter(
        status=AutoChargeAttempt.Status.SCHEDULED, created_at__lt=stale
    ).order_by("pk")[:200]:
        _run_quietly(attempt.pk)
        done["charged"] += 1
    charging = AutoChargeAttempt.objects.filter(
        status=AutoChargeAttempt.Status.CHARGING, charging_at__lt=stale
    ).select_related("card_payment", "invoice")
    for attempt in charging.order_by("pk")[:200]:
        known = attempt.card_payment is not None and attempt.card_payment.intent_id
        if known or attempt.charging_at > now - KEY_LIFETIME:
            _run_quietly(attempt.pk)
            done["charged"] += 1
        else:
            # Stripe never answered and its key is forgotten: asking again could charge
            # twice. Staff check the Stripe dashboard; the customer is not told a thing
            # we do not know.
            with transaction.atomic():
                locked = AutoChargeAttempt.objects.select_for_update().get(pk=attempt.pk)
                if locked.status != AutoChargeAttempt.Status.CHARGING:
                    continue
                locked.notified_at = now  # nothing to tell the customer (see above)
                locked.save(update_fields=["notified_at"])
                _finish(
                    locked,
                    AutoChargeAttempt.Status.FAILED,
                    message="Stripe did not answer this charge; check it in the Stripe "
                    "dashboard before charging the invoice again.",
                    actor=audit.SCHEDULE,
                    notify=False,
                )
            if locked.card_payment_id is not None:
                _void_unsent(locked.card_payment, actor=audit.SCHEDULE)
            done["given_up"] += 1
    for attempt in AutoChargeAttempt.objects.filter(
        status=AutoChargeAttempt.Status.PROCESSING,
        card_payment__status__in=[
            CardPayment.Status.SUCCEEDED,
            CardPayment.Status.FAILED,
            CardPayment.Status.CANCELED,
        ],
    ).select_related("card_payment", "invoice"):
        outcome = attempt.outcome
        if outcome != attempt.status:
            _settle_from(attempt, attempt.card_payment, intent={}, actor=audit.SCHEDULE)
            done["settled"] += 1
    unsent = AutoChargeAttempt.objects.filter(
        status__in=AutoChargeAttempt.UNSUCCESSFUL,
        notified_at__isnull=True,
        finished_at__lt=stale,
        finished_at__gte=now - NOTIFY_WITHIN,
    ).values_list("pk", flat=True)
    from . import notifications

    for attempt_id in list(unsent[:200]):
        if notifications.auto_charge_failed_notify(attempt_id=attempt_id):
            done["notified"] += 1
    return done


def _run_quietly(attempt_id: int) -> None:
    try:
        auto_charge_attempt_run(attempt_id=attempt_id)
    except GatewayUnavailable as exc:
        logger.warning("Automatic charge %s still waits for Stripe: %s", attempt_id, exc)
