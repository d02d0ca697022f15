"""The renewal run and the dunning run of one instance.

Both are idempotent: running them twice on the same day changes nothing the second time.
Renewals remember the period they invoiced on each service (`invoiced_period_start`);
dunning remembers reminders sent, late fees charged and services already suspended.

Both follow the instance's one lock order (`tenant_apps.instance.locking`): services, then
the invoice, then the number sequence. Renewals lock a batch of services, then take
numbers; dunning locks the services an overdue invoice bills *before* the invoice and
before a late fee takes a number, so the two runs overlapping in one instance wait for
each other instead of deadlocking.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from contextlib import contextmanager
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from tenant_apps.billing import notifications
from tenant_apps.billing import services as billing
from tenant_apps.billing.issuer import issuer_missing_sentence
from tenant_apps.billing.models import BillingSettings, Invoice, InvoiceLine, PendingCharge
from tenant_apps.billing.tax_evidence import vat_ids_reconfirm_before_run
from tenant_apps.cards import autocharge
from tenant_apps.catalog.models import BillingCycle
from tenant_apps.clients.models import Customer
from tenant_apps.instance import audit, clock
from tenant_apps.instance.addresses import instance_url
from tenant_apps.instance.money import round_money
from tenant_apps.instance.selectors import issuer_identity_get
from tenant_apps.orders import notifications as service_notifications
from tenant_apps.orders import services
from tenant_apps.orders.models import Order, Service

from .models import BillingRun

BATCH = 2000


def _finish(run: BillingRun, log: list[str]) -> BillingRun:
    run.log = log[-500:]
    run.status = BillingRun.Status.DONE
    run.finished_at = timezone.now()
    run.save()
    return run


def _refused(run: BillingRun, log: list[str], sentence: str) -> BillingRun:
    """A run that could not do its work records why and ends, without raising: the nightly
    fan-out goes on to the next instance, and staff read the sentence on the run."""
    log.append(sentence)
    run.log = log[-500:]
    run.status = BillingRun.Status.FAILED
    run.finished_at = timezone.now()
    run.save()
    return run


def _reconfirm_vat_ids(customers, log: list[str], actor) -> None:
    """Old VIES confirmations these invoices would reverse charge on are confirmed again
    before the run locks anything (a registry call never waits inside a lock)."""
    identity = issuer_identity_get()
    log.extend(
        vat_ids_reconfirm_before_run(
            customers=customers.filter(
                kind=Customer.Kind.COMPANY, tax_id_status=Customer.TaxIdStatus.VALID
            )
            .exclude(tax_id="")
            .order_by("pk"),
            issuer_country=identity.country if identity else "",
            actor=actor,
        )
    )


@contextmanager
def _recorded(run: BillingRun, log: list[str]):
    """A run that stops half-way says so (what it did before the error stays committed)."""
    try:
        yield
    except Exception as exc:
        log.append(f"Stopped: {exc}")
        run.log = log[-500:]
        run.status = BillingRun.Status.FAILED
        run.finished_at = timezone.now()
        run.save()
        raise


def _actor(actor, triggered_by: str):
    """Who the documents and moves of a run are recorded as: the user who pressed "Run now",
    else the schedule."""
    if actor is not None:
        return actor
    return audit.SCHEDULE if triggered_by in ("", "schedule") else triggered_by


def renewals_run(
    *, today: datetime.date | None = None, triggered_by: str = "schedule", actor=None
) -> BillingRun:
    """Invoice every service whose next period starts within the renewal lead time.

    One invoice per customer and currency per run; numbers are taken in one block.
    Services set to cancel at the end of their term are cancelled instead once due. While the
    issuer identity lacks what an invoice must show, the run issues nothing and ends failed,
    saying what is missing (it does not raise: the nightly fan-out goes on).
    """
    today = today or clock.today()
    actor = _actor(actor, triggered_by)
    settings_row = billing.billing_settings_get()
    horizon = today + datetime.timedelta(days=settings_row.renewal_lead_days)
    run = BillingRun.objects.create(
        kind=BillingRun.Kind.RENEWALS, run_date=today, triggered_by=triggered_by
    )
    log: list[str] = []
    with _recorded(run, log):
        ending = Service.objects.filter(
            status__in=[Service.Status.ACTIVE, Service.Status.SUSPENDED],
            cancel_at_period_end=True,
            next_due_date__lte=today,
        )
        for service in ending:
            # An add-on may have ended a moment ago, with its plan.
            service.refresh_from_db(fields=["status"])
            if service.status not in Service.HOLDS_CAPACITY:
                continue
            services.service_transition(
                service=service,
                to=Service.Status.CANCELLED,
                reason="Cancelled at the end of its term",
                actor=actor,
            )
            log.append(f"Cancelled service #{service.pk} at the end of its term.")

        due = (
            Service.objects.filter(
                status__in=[Service.Status.ACTIVE, Service.Status.SUSPENDED],
                cancel_at_period_end=False,
                next_due_date__lte=horizon,
            )
            .exclude(cycle=BillingCycle.ONE_TIME)
            .filter(
                Q(invoiced_period_start__isnull=True)
                | Q(invoiced_period_start__lt=F("next_due_date"))
            )
            # A period a live line bills already is not billed twice: a period billed again
            # late and then paid moves the due date to a renewal issued before it.
            .filter(
                ~Exists(
                    services.service_lines_billing().filter(
                        service=OuterRef("pk"), period_start=OuterRef("next_due_date")
                    )
                )
            )
            .order_by("customer_id", "id")
        )
        refused = issuer_missing_sentence()
        if refused:
            return _refused(run, log, f"No renewal invoices were issued. {refused}")
        _reconfirm_vat_ids(
            Customer.objects.filter(
                Q(pk__in=due.values("customer_id"))
                | Q(pk__in=PendingCharge.objects.filter(invoice__isnull=True).values("customer_id"))
            ),
            log,
            actor,
        )
        while True:
            with transaction.atomic():
                # SKIP LOCKED: a concurrent (or manual) run never invoices a service twice.
                batch = list(
                    due.select_for_update(skip_locked=True, of=("self",)).select_related(
                        "customer", "product__tax_class"
                    )[:BATCH]
                )
                if not batch:
                    break
                grouped: dict[tuple[int, str], list[Service]] = defaultdict(list)
                for service in batch:
                    grouped[(service.customer_id, service.currency)].append(service)
                # Charges waiting for the next invoice (paid escalations…) ride along.
                charges: dict[tuple[int, str], list[PendingCharge]] = defaultdict(list)
                for charge in PendingCharge.objects.select_for_update(skip_locked=True).filter(
                    invoice__isnull=True, customer_id__in={key[0] for key in grouped}
                ):
                    charges[(charge.customer_id, charge.currency)].append(charge)
                keys = list(grouped)
                specs = [
                    billing.InvoiceSpec(
                        customer=grouped[key][0].customer,
                        currency=key[1],
                        lines=[services._service_line(s, s.next_due_date) for s in grouped[key]]
                        + [
                            billing.LineSpec(
                                description=c.description,
                                unit_price=c.amount,
                                tax_class_code=c.tax_class_code,
                            )
                            for c in charges.get(key, [])
                        ],
                    )
                    for key in keys
                ]
                invoices = billing.invoices_issue_bulk(
                    specs=specs, run_id=run.pk, on_date=today, actor=actor
                )
                for key, invoice in zip(keys, invoices, strict=True):
                    for charge in charges.get(key, []):
                        charge.invoice = invoice
                PendingCharge.objects.bulk_update(
                    [c for group in charges.values() for c in group], ["invoice"]
                )
                # Customers who opted in are charged on their default card after commit.
                autocharge.renewal_invoices_schedule(invoices=invoices, today=today, actor=actor)
                # One UPDATE for the batch: each service is now invoiced up to its due period.
                Service.objects.filter(pk__in=[s.pk for s in batch]).update(
                    invoiced_period_start=F("next_due_date")
                )
                run.invoices_created += len(invoices)
                log.append(
                    f"Issued {len(invoices)} renewal invoice(s) for {len(batch)} service(s)."
                )
        _bill_waiting_charges(run, today=today, actor=actor, log=log)
    return _finish(run, log)


def _bill_waiting_charges(run: BillingRun, *, today: datetime.date, actor, log: list[str]):
    """Charges (paid escalations …) still waiting from an earlier month go out on their own
    invoice: on an annual plan the next renewal could be a year away."""
    month_start = today.replace(day=1)
    with transaction.atomic():
        waiting = list(
            PendingCharge.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("customer")
            .filter(invoice__isnull=True, created_at__date__lt=month_start)
            .order_by("customer_id", "currency", "id")
        )
        if not waiting:
            return
        grouped: dict[tuple[int, str], list[PendingCharge]] = defaultdict(list)
        for charge in waiting:
            grouped[(charge.customer_id, charge.currency)].append(charge)
        keys = list(grouped)
        specs = [
            billing.InvoiceSpec(
                customer=grouped[key][0].customer,
                currency=key[1],
                lines=[
                    billing.LineSpec(
                        description=charge.description,
                        unit_price=charge.amount,
                        tax_class_code=charge.tax_class_code,
                    )
                    for charge in grouped[key]
                ],
            )
            for key in keys
        ]
        invoices = billing.invoices_issue_bulk(
            specs=specs, run_id=run.pk, on_date=today, actor=actor
        )
        for key, invoice in zip(keys, invoices, strict=True):
            for charge in grouped[key]:
                charge.invoice = invoice
        PendingCharge.objects.bulk_update(waiting, ["invoice"])
        autocharge.renewal_invoices_schedule(invoices=invoices, today=today, actor=actor)
        run.invoices_created += len(invoices)
        log.append(
            f"Issued {len(invoices)} invoice(s) for {len(waiting)} charge(s) waiting since "
            f"before {month_start:%Y-%m-%d}."
        )


def _expire_abandoned_checkouts(
    *, today: datetime.date, days: int | None, actor, log: list[str]
) -> None:
    """Portal orders accepted at checkout and never paid are cancelled after `days`: their
    services never start and their invoices are credited (`orders.order_cancel`)."""
    if not days:
        return
    cutoff = today - datetime.timedelta(days=days)
    stale = (
        Order.objects.filter(
            source=Order.Source.PORTAL,
            status=Order.Status.ACCEPTED,
            accepted_at__date__lte=cutoff,
        )
        .exclude(items__service__status__in=[s for s in Service.Status if s != "pending"])
        .distinct()
        .order_by("pk")
    )
    for order in stale:
        try:
            services.order_cancel(order=order, actor=actor)
        except services.OrderPaid:
            continue  # paid in the meantime: not abandoned
        log.append(f"Cancelled portal order #{order.pk}: unpaid {days} days after checkout.")


def _overdue_invoices(today: datetime.date):
    """Open invoices past their due date, in one query, each marked `is_late_fee`.

    Left out: abandoned portal checkouts — the first invoice of a portal order, nothing
    paid, whose services never started (no reminder, no fee, nothing to suspend).
    """
    billed = Service.objects.filter(invoice_lines__invoice=OuterRef("pk"))
    abandoned = (
        Q(amount_paid=0)
        & Exists(billed.filter(order_item__order__source=Order.Source.PORTAL))
        & ~Exists(billed.exclude(status=Service.Status.PENDING))
    )
    return (
        Invoice.objects.filter(
            kind=Invoice.Kind.INVOICE,
            status__in=[Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID],
            due_date__lt=today,
        )
        .exclude(abandoned)
        .annotate(
            is_late_fee=Exists(
                InvoiceLine.objects.filter(
                    invoice_id=OuterRef("pk"), kind=InvoiceLine.Kind.LATE_FEE
                )
            )
        )
        .select_related("customer")
        .order_by("due_date", "id")
    )


def dunning_run(
    *, today: datetime.date | None = None, triggered_by: str = "schedule", actor=None
) -> BillingRun:
    """Remind, charge late fees, suspend and terminate, following the instance's settings.

    On each new dunning step, a renewal invoice of a customer who opted in to automatic
    payment is first charged to their default card again (`cards.autocharge`): when that
    succeeds the invoice is paid and the step reminds, fines and suspends nothing.
    """
    today = today or clock.today()
    actor = _actor(actor, triggered_by)
    settings_row = billing.billing_settings_get()
    reminder_days = sorted(set(settings_row.reminder_days or []))
    base_url = instance_url()
    run = BillingRun.objects.create(
        kind=BillingRun.Kind.DUNNING, run_date=today, triggered_by=triggered_by
    )
    log: list[str] = []
    with _recorded(run, log):
        # Late fees and the credit notes of expired checkouts are documents: without a
        # complete issuer identity dunning still reminds and suspends, and says what it left.
        refused = issuer_missing_sentence()
        if refused:
            log.append(f"No late fee was charged and no abandoned checkout cancelled. {refused}")
        else:
            _expire_abandoned_checkouts(
                today=today, days=settings_row.checkout_expiry_days, actor=actor, log=log
            )
        overdue_invoices = list(_overdue_invoices(today))
        if not refused and settings_row.late_fee_vat == BillingSettings.LateFeeVat.STANDARD:
            # A taxed late fee is treated like the late invoice, reverse charge included.
            _reconfirm_vat_ids(
                Customer.objects.filter(
                    pk__in={
                        invoice.customer_id
                        for invoice in overdue_invoices
                        if (today - invoice.due_date).days >= settings_row.late_fee_after_days
                        and invoice.late_fee_invoice_id is None
                        and not invoice.is_late_fee
                    }
                ),
                log,
                actor,
            )
        # Renewal invoices of customers who opted in: the card is tried again first on each
        # new dunning step; a charge that succeeds leaves nothing of the step to do.
        card_retries = autocharge.dunning_retries_plan(
            invoices=overdue_invoices, today=today, settings_row=settings_row
        )
        for invoice in overdue_invoices:
            overdue = (today - invoice.due_date).days
            if invoice.pk in card_retries:
                attempt = autocharge.dunning_retry(
                    invoice_id=invoice.pk, step=card_retries[invoice.pk], today=today, actor=actor
                )
                if attempt is not None:
                    log.append(
                        f"Card {attempt.card_label} tried again for invoice {invoice.number}: "
                        f"{attempt.outcome_label.lower()}."
                    )
            with transaction.atomic():
                # Lock order: the invoice's services first, then the invoice, then (late
                # fee) the number sequence — as renewals do (services, then numbers).
                linked = Service.objects.filter(invoice_lines__invoice_id=invoice.pk).distinct()
                # With their add-ons, which are suspended and terminated with their plan.
                list(
                    Service.objects.filter(
                        Q(pk__in=linked.values("pk")) | Q(parent_id__in=linked.values("pk"))
                    )
                    .order_by("pk")
                    .select_for_update()
                )
                locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
                if locked.status not in (Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID):
                    continue
                level = sum(1 for day in reminder_days if day <= overdue)
                if level > locked.reminders_sent:
                    locked.reminders_sent = level
                    locked.last_reminder_at = timezone.now()
                    locked.save(update_fields=["reminders_sent", "last_reminder_at"])
                    invoice_id, reminder_level = locked.pk, level
                    transaction.on_commit(
                        lambda i=invoice_id, lv=reminder_level: (
                            notifications.invoice_reminder_notify(
                                invoice=Invoice.objects.get(pk=i), level=lv, base_url=base_url
                            )
                        )
                    )
                    run.reminders_sent += 1
                    log.append(
                        f"Reminder {level} for invoice {locked.number} ({overdue} days overdue)."
                    )
                fee = (
                    settings_row.late_fee_amount
                    + locked.amount_due * settings_row.late_fee_percent / Decimal(100)
                )
                fee = round_money(fee, locked.currency)
                if (
                    fee > 0
                    and not refused
                    and overdue >= settings_row.late_fee_after_days
                    and locked.late_fee_invoice_id is None
                    # Never a fee on a fee: a late-fee invoice is reminded, not charged again.
                    and not invoice.is_late_fee
                ):
                    late = billing.invoice_create_draft(
                        customer=locked.customer,
                        currency=locked.currency,
                        lines=[
                            billing.LineSpec(
                                description=f"Late payment fee for invoice {locked.number}",
                                unit_price=fee,
                                kind=InvoiceLine.Kind.LATE_FEE,
                            )
                        ],
                    )
                    # Its VIES confirmation was renewed above, before the locks.
                    late = billing.invoice_issue(
                        invoice=late, issue_date=today, reconfirm_vat_id=False, actor=actor
                    )
                    locked.late_fee_invoice = late
                    locked.save(update_fields=["late_fee_invoice"])
                    run.late_fees += 1
                    log.append(
                        f"Late fee {fee} {locked.currency} for invoice {locked.number}: "
                        f"{late.number}."
                    )
                if (
                    settings_row.terminate_after_days is not None
                    and overdue >= settings_row.terminate_after_days
                ):
                    for service in linked.filter(
                        status__in=[Service.Status.ACTIVE, Service.Status.SUSPENDED]
                    ).order_by("pk"):
                        service.refresh_from_db(fields=["status"])
                        if service.status not in Service.HOLDS_CAPACITY:
                            continue  # an add-on terminated with its plan a moment ago
                        services.service_terminate(
                            service=service, reason=f"Invoice {locked.number} unpaid"
                        )
                        run.services_terminated += 1
                        log.append(
                            f"Terminated service #{service.pk}: invoice {locked.number} unpaid."
                        )
                elif (
                    settings_row.suspend_after_days is not None
                    and overdue >= settings_row.suspend_after_days
                ):
                    for service in linked.filter(status=Service.Status.ACTIVE).order_by("pk"):
                        service.refresh_from_db(fields=["status"])
                        if service.status != Service.Status.ACTIVE:
                            continue  # an add-on suspended with its plan a moment ago
                        suspended = services.service_suspend(
                            service=service,
                            reason=f"Invoice {locked.number} unpaid",
                            nonpayment=True,
                            actor=actor,
                        )
                        transaction.on_commit(
                            lambda s=suspended: service_notifications.service_suspended_notify(
                                service=s, base_url=base_url
                            )
                        )
                        run.services_suspended += 1
                        log.append(
                            f"Suspended service #{service.pk}: invoice {locked.number} unpaid."
                        )
    return _finish(run, log)
