"""What the catalog asks of the platform.

`resource_choices()` → [(code, name, unit), …]: the resources a product can need (disk,
hosting accounts …), as the operator defines them. None by default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tenant_apps.instance.ports import Port


def _none() -> Sequence[tuple[str, str, str]]:
    return []


resource_choices: Port[Callable[[], Sequence[tuple[str, str, str]]]] = Port(
    "resource_choices", _none
)
