"""Writes of the catalog: tax classes, products, their prices, add-ons and resources.

Every write records one event in the instance's audit trail with the old and new values of
what it changed (prices and add-ons included).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_tenants.utils import get_public_schema_name

from tenant_apps.instance import audit
from tenant_apps.instance.money import ZERO, round_money, to_decimal, validate_currency

from .models import BillingCycle, Price, Product, TaxClass
from .selectors import resource_choices

TAX_CLASS_CREATED = audit.event_type("taxclass.created", gettext_noop("Tax class added"))
TAX_CLASS_UPDATED = audit.event_type("taxclass.updated", gettext_noop("Tax class changed"))
PRODUCT_CREATED = audit.event_type("product.created", gettext_noop("Product added"))
PRODUCT_UPDATED = audit.event_type("product.updated", gettext_noop("Product changed"))
PRODUCT_PRICES_CHANGED = audit.event_type("product.prices_changed", gettext_noop("Prices changed"))
PRODUCT_ARCHIVED = audit.event_type("product.archived", gettext_noop("Product archived"))
PRODUCT_RESTORED = audit.event_type("product.restored", gettext_noop("Product restored"))

_TAX_CLASS_FIELDS = ("code", "name")
_PRODUCT_FIELDS = (
    "code",
    "name",
    "kind",
    "tax_class",
    "description",
    "resources",
    "is_reseller_plan",
    "once_per_service",
    "position",
)

# Keyword default meaning "leave this as it is" in the update services (None is a value).
UNSET: Any = object()

# Price.amount is DecimalField(max_digits=12, decimal_places=2).
MAX_AMOUNT = Decimal("9999999999.99")


class _Errors:
    """Collects every problem of one call so the user sees all of them at once."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.by_field.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


def _check_code(errors: _Errors, field: str, code: str, max_length: int) -> str:
    code = (code or "").strip()
    if not code:
        errors.add(field, _("Enter a code."))
        return code
    try:
        validate_slug(code)
    except ValidationError:
        errors.add(field, _("Use only letters, digits, hyphens and underscores in the code."))
    if len(code) > max_length:
        errors.add(
            field,
            (
                _("Keep the code to %(max_length)s characters or fewer.")
                % {"max_length": max_length}
            ),
        )
    return code


def _check_name(errors: _Errors, name: str, max_length: int) -> str:
    name = (name or "").strip()
    if not name:
        errors.add("name", _("Enter a name."))
    elif len(name) > max_length:
        errors.add(
            "name",
            (
                _("Keep the name to %(max_length)s characters or fewer.")
                % {"max_length": max_length}
            ),
        )
    return name


# --------------------------------------------------------------------------- tax classes


def _check_tax_class(*, code: str, name: str, instance: TaxClass | None) -> tuple[str, str]:
    errors = _Errors()
    code = _check_code(errors, "code", code, TaxClass._meta.get_field("code").max_length)
    name = _check_name(errors, name, TaxClass._meta.get_field("name").max_length)
    others = TaxClass.objects.filter(code__iexact=code)
    if instance is not None:
        others = others.exclude(pk=instance.pk)
    if code and others.exists():
        errors.add(
            "code", (_("A tax class with the code “%(code)s” already exists.") % {"code": code})
        )
    errors.raise_if_any()
    return code, name


@transaction.atomic
def tax_class_create(*, code: str, name: str, actor=None) -> TaxClass:
    code, name = _check_tax_class(code=code, name=name, instance=None)
    tax_class = TaxClass.objects.create(code=code, name=name)
    audit.audit_record(
        TAX_CLASS_CREATED,
        actor=actor,
        obj=tax_class,
        changes=audit.diff({}, audit.snapshot(tax_class, _TAX_CLASS_FIELDS), created=True),
    )
    return tax_class


@transaction.atomic
def tax_class_update(
    *, tax_class: TaxClass, code: str = UNSET, name: str = UNSET, actor=None
) -> TaxClass:
    tax_class = TaxClass.objects.select_for_update().get(pk=tax_class.pk)
    code, name = _check_tax_class(
        code=tax_class.code if code is UNSET else code,
        name=tax_class.name if name is UNSET else name,
        instance=tax_class,
    )
    before = audit.snapshot(tax_class, _TAX_CLASS_FIELDS)
    tax_class.code, tax_class.name = code, name
    tax_class.save(update_fields=["code", "name"])
    audit.audit_record(
        TAX_CLASS_UPDATED,
        actor=actor,
        obj=tax_class,
        changes=audit.diff(before, audit.snapshot(tax_class, _TAX_CLASS_FIELDS)),
    )
    return tax_class


# ------------------------------------------------------------------------------ products


def _is_operator_instance() -> bool:
    return connection.schema_name == get_public_schema_name()


def _clean_prices(errors: _Errors, prices: Iterable[Mapping[str, Any]]) -> list[Price]:
    """Validate price rows ({currency, cycle, amount, setup_fee}) into unsaved Price objects."""
    cycles = dict(BillingCycle.choices)
    cleaned: list[Price] = []
    seen: set[tuple[str, str]] = set()
    for number, row in enumerate(prices, start=1):
        # Name the row by what it says, not only its position: screens may hide or drop rows.
        label = _("Price %(number)s (%(value)s %(value2)s)") % {
            "number": number,
            "value": row.get("currency") or "?",
            "value2": row.get("cycle") or "?",
        }
        row_errors = len(errors.by_field.get("prices", []))
        try:
            currency = validate_currency(str(row.get("currency") or ""))
        except ValidationError:
            currency = ""
            errors.add(
                "prices",
                (
                    _(
                        "%(label)s: “%(value)s” is not a currency code we know (use ISO 4217, "
                        "e.g. EUR)."
                    )
                    % {"label": label, "value": row.get("currency") or ""}
                ),
            )
        cycle = str(row.get("cycle") or "")
        if cycle not in cycles:
            errors.add(
                "prices",
                (
                    _("%(label)s: choose a billing cycle (%(cycles)s), not “%(cycle)s”.")
                    % {"label": label, "cycles": ", ".join(cycles), "cycle": cycle}
                ),
            )
        amounts = {}
        for key, what in (("amount", _("price")), ("setup_fee", _("setup fee"))):
            raw = row.get(key)
            if raw in (None, ""):
                if key == "amount":
                    errors.add("prices", (_("%(label)s: enter a price.") % {"label": label}))
                    continue
                raw = ZERO
            try:
                value = to_decimal(raw, field="prices")
            except ValidationError:
                errors.add(
                    "prices",
                    (
                        _("%(label)s: the %(what)s “%(raw)s” is not a number.")
                        % {"label": label, "what": what, "raw": raw}
                    ),
                )
                continue
            if value < 0:
                errors.add(
                    "prices",
                    (
                        _("%(label)s: the %(what)s cannot be negative.")
                        % {"label": label, "what": what}
                    ),
                )
            elif value > MAX_AMOUNT:
                errors.add(
                    "prices",
                    (_("%(label)s: the %(what)s is too large.") % {"label": label, "what": what}),
                )
            elif currency and round_money(value, currency) != value:
                errors.add(
                    "prices",
                    (
                        _(
                            "%(label)s: the %(what)s %(value)s has more decimals than %(currency)s "
                            "allows."
                        )
                        % {"label": label, "what": what, "value": value, "currency": currency}
                    ),
                )
            amounts[key] = value
        if currency and cycle in cycles:
            if (currency, cycle) in seen:
                errors.add(
                    "prices",
                    (
                        _("%(label)s: there is already a %(cycles)s price in %(currency)s.")
                        % {"label": label, "cycles": cycles[cycle].lower(), "currency": currency}
                    ),
                )
            seen.add((currency, cycle))
        if len(errors.by_field.get("prices", [])) == row_errors:
            cleaned.append(
                Price(
                    currency=currency,
                    cycle=cycle,
                    amount=amounts["amount"],
                    setup_fee=amounts["setup_fee"],
                )
            )
    return cleaned


def _clean_resources(errors: _Errors, resources: Mapping[str, Any] | None) -> dict[str, int]:
    """Only positive amounts are kept: a product that needs 0 of something does not need it."""
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        errors.add("resources", _("Resources are a mapping of resource code to a whole number."))
        return {}
    names = {code: name for code, name, _unit in resource_choices()}
    cleaned: dict[str, int] = {}
    for code, raw in resources.items():
        if code not in names:
            known = ", ".join(names) or "none defined"
            errors.add(
                "resources",
                (
                    _("“%(code)s” is not a resource we sell (known: %(known)s).")
                    % {"code": code, "known": known}
                ),
            )
            continue
        if isinstance(raw, bool) or raw is None:
            errors.add(
                "resources", (_("%(names)s: enter a whole number.") % {"names": names[code]})
            )
            continue
        try:
            value = int(str(raw).strip())
        except ValueError:
            errors.add(
                "resources",
                (
                    _("%(names)s: “%(raw)s” is not a whole number.")
                    % {"names": names[code], "raw": raw}
                ),
            )
            continue
        if value < 0:
            errors.add("resources", (_("%(names)s cannot be negative.") % {"names": names[code]}))
        elif value:
            cleaned[code] = value
    return cleaned


def _clean_addons(
    errors: _Errors, addons: Iterable[Product | int], *, product: Product | None, kind: str
) -> list[Product]:
    wanted = [item.pk if isinstance(item, Product) else item for item in addons]
    if not wanted:
        return []
    if kind != Product.Kind.PLAN:
        errors.add("addons", _("Only plans can have add-ons."))
        return []
    found = {p.pk: p for p in Product.objects.filter(pk__in=wanted)}
    cleaned: list[Product] = []
    for pk in dict.fromkeys(wanted):
        addon = found.get(pk)
        if addon is None:
            errors.add("addons", (_("There is no product with id %(pk)s.") % {"pk": pk}))
        elif product is not None and addon.pk == product.pk:
            errors.add(
                "addons", (_("%(name)s cannot be an add-on of itself.") % {"name": addon.name})
            )
        elif addon.kind != Product.Kind.ADDON:
            errors.add(
                "addons",
                (
                    _("%(name)s is a %(kind)s, not an add-on.")
                    % {"name": addon.name, "kind": addon.get_kind_display().lower()}
                ),
            )
        else:
            cleaned.append(addon)
    return cleaned


def _check_product(
    errors: _Errors,
    *,
    product: Product | None,
    code: str,
    name: str,
    kind: str,
    tax_class: TaxClass | None,
    is_reseller_plan: bool,
    position: Any,
) -> tuple[str, str, int]:
    code = _check_code(errors, "code", code, Product._meta.get_field("code").max_length)
    if code:
        others = Product.objects.filter(code__iexact=code)
        if product is not None:
            others = others.exclude(pk=product.pk)
        if others.exists():
            errors.add(
                "code", (_("A product with the code “%(code)s” already exists.") % {"code": code})
            )
    name = _check_name(errors, name, Product._meta.get_field("name").max_length)
    if kind not in Product.Kind.values:
        errors.add("kind", (_("Choose plan or add-on, not “%(kind)s”.") % {"kind": kind}))
    if not isinstance(tax_class, TaxClass):
        errors.add("tax_class", _("Choose a tax class."))
    if is_reseller_plan:
        if not _is_operator_instance():
            errors.add(
                "is_reseller_plan", _("Only the operator's own catalog sells reseller plans.")
            )
        elif kind != Product.Kind.PLAN:
            errors.add("is_reseller_plan", _("Only a plan can be a reseller plan."))
    try:
        position = int(position)
        if position < 0:
            raise ValueError
    except (TypeError, ValueError):
        errors.add("position", _("The position is a whole number, 0 or more."))
        position = 0
    if product is not None and kind == Product.Kind.PLAN and product.kind == Product.Kind.ADDON:
        parents = list(product.parent_products.values_list("name", flat=True)[:3])
        if parents:
            errors.add(
                "kind",
                (
                    _(
                        "%(name)s is an add-on of %(parents)s; remove it there before making it "
                        "a plan."
                    )
                    % {"name": product.name, "parents": ", ".join(parents)}
                ),
            )
    return code, name, position


def _save_product(product: Product, errors: _Errors) -> None:
    """Save, turning a lost race on the unique code into the same error as the check."""
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError as exc:
        errors.add(
            "code",
            (_("A product with the code “%(code)s” already exists.") % {"code": product.code}),
        )
        raise ValidationError(errors.by_field) from exc


def _price_rows(product: Product) -> list[str]:
    """The product's prices as sortable one-liners, for the old/new values of an event."""
    return sorted(
        f"{p.currency} {p.cycle} {p.amount} (setup {p.setup_fee})" for p in product.prices.all()
    )


def _product_state(product: Product) -> dict[str, Any]:
    state = audit.snapshot(product, _PRODUCT_FIELDS)
    state["prices"] = _price_rows(product) if product.pk else []
    state["addons"] = sorted(product.addons.values_list("code", flat=True)) if product.pk else []
    return state


def _replace_prices(product: Product, prices: list[Price]) -> None:
    product.prices.all().delete()
    for price in prices:
        price.product = product
    Price.objects.bulk_create(prices)


@transaction.atomic
def product_create(
    *,
    code: str,
    name: str,
    kind: str,
    tax_class: TaxClass,
    description: str = "",
    resources: Mapping[str, Any] | None = None,
    is_reseller_plan: bool = False,
    once_per_service: bool = True,
    prices: Iterable[Mapping[str, Any]] = (),
    addons: Iterable[Product | int] = (),
    position: int = 0,
    actor=None,
) -> Product:
    """Create a product with its prices and add-ons; nothing is written if any input is bad."""
    errors = _Errors()
    code, name, position = _check_product(
        errors,
        product=None,
        code=code,
        name=name,
        kind=kind,
        tax_class=tax_class,
        is_reseller_plan=is_reseller_plan,
        position=position,
    )
    cleaned_resources = _clean_resources(errors, resources)
    cleaned_prices = _clean_prices(errors, prices)
    cleaned_addons = _clean_addons(errors, addons, product=None, kind=kind)
    errors.raise_if_any()

    product = Product(
        code=code,
        name=name,
        kind=kind,
        tax_class=tax_class,
        description=(description or "").strip(),
        resources=cleaned_resources,
        is_reseller_plan=bool(is_reseller_plan),
        once_per_service=bool(once_per_service),
        position=position,
    )
    _save_product(product, errors)
    _replace_prices(product, cleaned_prices)
    product.addons.set(cleaned_addons)
    audit.audit_record(
        PRODUCT_CREATED,
        actor=actor,
        obj=product,
        changes=audit.diff({}, _product_state(product), created=True),
    )
    return product


@transaction.atomic
def product_update(
    *,
    product: Product,
    code: str = UNSET,
    name: str = UNSET,
    kind: str = UNSET,
    tax_class: TaxClass = UNSET,
    description: str = UNSET,
    resources: Mapping[str, Any] | None = UNSET,
    is_reseller_plan: bool = UNSET,
    once_per_service: bool = UNSET,
    prices: Iterable[Mapping[str, Any]] = UNSET,
    addons: Iterable[Product | int] = UNSET,
    position: int = UNSET,
    actor=None,
) -> Product:
    """Change what is given (leave the rest); `prices` and `addons` replace the whole set."""
    # Lock the row: two staff saving the same product at once apply one after the other.
    product = Product.objects.select_for_update().get(pk=product.pk)
    before = _product_state(product)

    def given(value, current):
        return current if value is UNSET else value

    kind = given(kind, product.kind)
    is_reseller_plan = given(is_reseller_plan, product.is_reseller_plan)
    errors = _Errors()
    code, name, position = _check_product(
        errors,
        product=product,
        code=given(code, product.code),
        name=given(name, product.name),
        kind=kind,
        tax_class=given(tax_class, product.tax_class),
        is_reseller_plan=is_reseller_plan,
        position=given(position, product.position),
    )
    cleaned_resources = (
        product.resources if resources is UNSET else _clean_resources(errors, resources)
    )
    cleaned_prices = None if prices is UNSET else _clean_prices(errors, prices)
    if addons is UNSET:
        cleaned_addons = None
        if kind != Product.Kind.PLAN and product.addons.exists():
            errors.add("addons", _("Only plans can have add-ons; remove them first."))
    else:
        cleaned_addons = _clean_addons(errors, addons, product=product, kind=kind)
    errors.raise_if_any()

    product.code, product.name, product.kind, product.position = code, name, kind, position
    product.tax_class = given(tax_class, product.tax_class)
    product.description = given(description, product.description).strip()
    product.resources = cleaned_resources
    product.is_reseller_plan = bool(is_reseller_plan)
    product.once_per_service = bool(given(once_per_service, product.once_per_service))
    _save_product(product, errors)
    if cleaned_prices is not None:
        _replace_prices(product, cleaned_prices)
    if cleaned_addons is not None:
        product.addons.set(cleaned_addons)
    audit.audit_record(
        PRODUCT_UPDATED,
        actor=actor,
        obj=product,
        changes=audit.diff(before, _product_state(product)),
    )
    return product


@transaction.atomic
def product_set_prices(
    *, product: Product, prices: Iterable[Mapping[str, Any]], actor=None
) -> list[Price]:
    """Replace every price of `product` with `prices` (currency, cycle, amount, setup_fee)."""
    product = Product.objects.select_for_update().get(pk=product.pk)
    errors = _Errors()
    cleaned = _clean_prices(errors, prices)
    errors.raise_if_any()
    before = _price_rows(product)
    _replace_prices(product, cleaned)
    audit.audit_record(
        PRODUCT_PRICES_CHANGED,
        actor=actor,
        obj=product,
        changes=audit.diff({"prices": before}, {"prices": _price_rows(product)}),
    )
    return list(product.prices.all())


def _set_active(product: Product, active: bool, event: audit.EventType, actor) -> Product:
    product = Product.objects.select_for_update().get(pk=product.pk)
    if product.is_active != active:  # idempotent: archiving twice is not an error
        product.is_active = active
        product.save(update_fields=["is_active"])
        audit.audit_record(
            event, actor=actor, obj=product, changes={"is_active": [not active, active]}
        )
    return product


@transaction.atomic
def product_archive(*, product: Product, actor=None) -> Product:
    """Stop selling a product; existing services and invoices keep referring to it."""
    return _set_active(product, False, PRODUCT_ARCHIVED, actor)


@transaction.atomic
def product_restore(*, product: Product, actor=None) -> Product:
    """Sell an archived product again."""
    return _set_active(product, True, PRODUCT_RESTORED, actor)
