"""The upstream ticket bridge: a reseller escalates a customer's ticket to the operator."""
