"""Quota: no reseller can use more than the operator allocated, even under concurrency."""

import threading

import pytest
from django.db import close_old_connections, connection

from shared_apps.tenancy.models import Allocation, Reseller
from shared_apps.tenancy.services import (
    QuotaExceeded,
    allocation_release,
    allocation_reserve,
    allocation_set,
)


def test_reserve_within_allocation_counts_usage(instance_a):
    allocation_reserve(schema_name="r_acme", demands={"disk_gb": 60, "hosting_accounts": 2})
    assert Allocation.objects.get(reseller__slug="acme", resource_id="disk_gb").used == 60


def test_reserve_past_allocation_is_refused_and_changes_nothing(instance_a):
    allocation_reserve(schema_name="r_acme", demands={"disk_gb": 60})
    with pytest.raises(QuotaExceeded, match="Disk space: needs 50 GB, 40 left"):
        allocation_reserve(schema_name="r_acme", demands={"disk_gb": 50, "hosting_accounts": 1})
    assert Allocation.objects.get(reseller__slug="acme", resource_id="hosting_accounts").used == 0


def test_release_gives_capacity_back(instance_a):
    allocation_reserve(schema_name="r_acme", demands={"disk_gb": 100})
    allocation_release(schema_name="r_acme", demands={"disk_gb": 30})
    allocation_reserve(schema_name="r_acme", demands={"disk_gb": 30})


def test_operator_instance_is_never_limited(db):
    allocation_reserve(schema_name="public", demands={"disk_gb": 10**9})


def test_allocation_cannot_drop_below_usage(instance_a):
    allocation_reserve(schema_name="r_acme", demands={"disk_gb": 70})
    with pytest.raises(QuotaExceeded):
        allocation_set(reseller=instance_a.reseller(), resource_code="disk_gb", quantity=69)


def test_concurrent_reservations_never_exceed_the_allocation(django_db_blocker):
    """20 threads each try to take 10 GB of a 100 GB allocation: exactly 10 succeed.

    Runs on committed rows (no test transaction) so each thread's own connection sees them.
    """
    results: list[str] = []

    def reserve():
        try:
            allocation_reserve(schema_name="r_quota_race", demands={"disk_gb": 10})
            results.append("ok")
        except QuotaExceeded:
            results.append("refused")
        finally:
            close_old_connections()
            connection.close()

    with django_db_blocker.unblock():
        reseller = Reseller.objects.create(
            schema_name="r_quota_race",
            slug="quota-race",
            name="Race",
            legal_name="Race",
            contact_email="r@race.test",
        )
        Allocation.objects.create(reseller=reseller, resource_id="disk_gb", quantity=100)
        try:
            threads = [threading.Thread(target=reserve) for _ in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert results.count("ok") == 10 and results.count("refused") == 10
            assert Allocation.objects.get(reseller=reseller).used == 100
        finally:
            reseller.delete()
