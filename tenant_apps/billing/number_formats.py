"""Invoice and credit-note number formats: checked against a small grammar and rendered by
hand, never handed to `str.format` (whose format specs can ask for huge paddings or reach
attributes of the values).

The grammar: `{year}`, `{number}` and `{number:0Nd}` (zero-padded to N digits, 1 ≤ N ≤ 12),
with literal text of letters, digits, spaces and `- _ / . #` around them; `{number}` exactly
once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

MAX_PADDING = 12
LITERAL_CHARACTERS = gettext_lazy("letters, digits, spaces and - _ / . #")

_TOKEN = re.compile(
    r"(?P<year>\{year\})"
    r"|(?P<number>\{number(?::0(?P<width>\d{1,2})d)?\})"
    r"|(?P<literal>[A-Za-z0-9 ._/#-]+)"
)


@dataclass(frozen=True)
class _Part:
    kind: str  # "year", "number" or "literal"
    text: str = ""
    width: int = 0


def parse_number_format(number_format: str) -> list[_Part]:
    """The parts of a number format; raises ValidationError with a sentence saying what is
    wrong (an unknown placeholder, a padding over 12, a character outside the safe set)."""
    parts: list[_Part] = []
    position = 0
    while position < len(number_format):
        match = _TOKEN.match(number_format, position)
        if match is None:
            rest = number_format[position:]
            if rest.startswith("{"):
                placeholder = rest.split("}", 1)[0] + ("}" if "}" in rest else "")
                raise ValidationError(
                    _(
                        "“%(placeholder)s” is not a placeholder you can use: use {year}, "
                        "{number} or {number:06d} (padding up to %(MAX_PADDING)s digits)."
                    )
                    % {"placeholder": placeholder, "MAX_PADDING": MAX_PADDING}
                )
            raise ValidationError(
                _("“%(rest)s” cannot be used in a number format: use %(LITERAL_CHARACTERS)s.")
                % {"rest": rest[0], "LITERAL_CHARACTERS": LITERAL_CHARACTERS}
            )
        if match["year"]:
            parts.append(_Part("year"))
        elif match["number"]:
            width = int(match["width"] or 0)
            if match["width"] is not None and not 1 <= width <= MAX_PADDING:
                raise ValidationError(
                    _("Pad the number to 1 to %(MAX_PADDING)s digits, not %(width)s.")
                    % {"MAX_PADDING": MAX_PADDING, "width": match["width"]}
                )
            parts.append(_Part("number", width=width))
        else:
            parts.append(_Part("literal", text=match["literal"]))
        position = match.end()
    numbers = sum(part.kind == "number" for part in parts)
    if numbers == 0:
        raise ValidationError(_("The number format must contain {number}."))
    if numbers > 1:
        raise ValidationError(_("The number format must contain {number} only once."))
    return parts


def render_number(number_format: str, *, year: int, number: int) -> str:
    """The document number for `number` in `year`, e.g. "2026-000042"."""
    rendered = []
    for part in parse_number_format(number_format):
        if part.kind == "year":
            rendered.append(str(year))
        elif part.kind == "number":
            rendered.append(str(number).zfill(part.width))
        else:
            rendered.append(part.text)
    return "".join(rendered)
