"""The date-range forms of the report screens (read from the query string).

Every form is bound even on a first visit: missing dates take their defaults (the
instance's current quarter, or today), so the page shows a report at once; a date that
cannot be read or an end before the start is a field error on the page (and a 400 in
the API), never a 500.
"""

from __future__ import annotations

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenant_apps.clients.models import Customer
from tenant_apps.instance import clock

from .selectors import this_quarter

DATE_WIDGET = {"type": "date"}
# Far enough for any tax year; a typo (year 20266) would make every query scan for nothing.
EARLIEST = datetime.date(2000, 1, 1)
LATEST = datetime.date(2100, 12, 31)
END_BEFORE_START = gettext_lazy("The end date is before the start date.")


def _within_years(day: datetime.date) -> datetime.date:
    if not EARLIEST <= day <= LATEST:
        raise ValidationError(
            _("Choose a date between %(year)s and %(year2)s.")
            % {"year": EARLIEST.year, "year2": LATEST.year}
        )
    return day


def with_defaults(data, defaults: dict) -> dict:
    """The query string with each missing or empty field set to its default."""
    values = {key: data.get(key) for key in data}
    for key, value in defaults.items():
        if not values.get(key):
            values[key] = value.isoformat() if isinstance(value, datetime.date) else value
    return values


class DateRangeForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("From"), widget=forms.DateInput(attrs=DATE_WIDGET))
    end = forms.DateField(label=gettext_lazy("To"), widget=forms.DateInput(attrs=DATE_WIDGET))

    @classmethod
    def from_query(cls, data, **kwargs):
        start, end = this_quarter()
        return cls(with_defaults(data, {"start": start, "end": end, **kwargs}))

    def clean_start(self) -> datetime.date:
        return _within_years(self.cleaned_data["start"])

    def clean_end(self) -> datetime.date:
        return _within_years(self.cleaned_data["end"])

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end < start:
            self.add_error("end", END_BEFORE_START)
        return cleaned


class VatReportForm(DateRangeForm):
    period = forms.ChoiceField(
        label=gettext_lazy("Group by"),
        choices=[("month", gettext_lazy("Month")), ("quarter", gettext_lazy("Quarter"))],
        initial="month",
    )

    @classmethod
    def from_query(cls, data, **kwargs):
        return super().from_query(data, period="month", **kwargs)


class AgingForm(forms.Form):
    as_of = forms.DateField(
        label=gettext_lazy("As of"),
        widget=forms.DateInput(attrs=DATE_WIDGET),
        help_text=gettext_lazy("How overdue each open balance is on this day."),
    )

    @classmethod
    def from_query(cls, data):
        return cls(with_defaults(data, {"as_of": clock.today()}))

    def clean_as_of(self) -> datetime.date:
        return _within_years(self.cleaned_data["as_of"])


class StatementCustomerForm(forms.Form):
    """The statements page: pick the customer, then the range."""

    customer = forms.ModelChoiceField(
        label=gettext_lazy("Customer"),
        queryset=Customer.objects.order_by("name", "id"),
        empty_label=gettext_lazy("Choose a customer…"),
    )
