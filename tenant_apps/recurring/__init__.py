"""Recurring billing: the renewal run and the dunning run of each instance, their record
(`BillingRun`), the daily fan-out task, the staff screens and the API. It stands above
orders and billing and is the only place that drives them on a schedule."""
