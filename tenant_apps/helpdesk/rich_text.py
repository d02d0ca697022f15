"""Ticket message bodies: the one place user text becomes HTML (nh3 allow-list) or plain text.

Whatever a customer or staff member types is stored as sanitised HTML and re-sanitised when
rendered, so a row written by any other path still cannot carry script into a page.
"""

from __future__ import annotations

import html
import re

import nh3

ALLOWED_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a", "code", "pre", "blockquote"}
ALLOWED_ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = {"http", "https", "mailto"}
_BLOCK_TAG = re.compile(r"<(p|ul|ol|pre|blockquote)[\s>]", re.IGNORECASE)


def sanitise(value: str) -> str:
    """Only the allow-listed tags survive; `<script>`/`<style>` lose their content too."""
    return nh3.clean(
        value or "",
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener nofollow",
    )


def body_to_html(text: str) -> str:
    """A typed body as stored HTML: sanitised, and plain text given paragraphs and breaks."""
    cleaned = sanitise((text or "").replace("\r\n", "\n")).strip()
    if cleaned and not _BLOCK_TAG.search(cleaned):
        # Plain text from a textarea: blank lines separate paragraphs, newlines break lines.
        paragraphs = [part.strip() for part in re.split(r"\n\s*\n", cleaned) if part.strip()]
        cleaned = "".join(f"<p>{part.replace(chr(10), '<br>')}</p>" for part in paragraphs)
    return sanitise(cleaned)


def html_to_text(value: str) -> str:
    """Plain text of a stored body (for e-mails and API consumers that want text)."""
    with_breaks = re.sub(r"</p>|<br\s*/?>|</li>|</blockquote>|</pre>", "\n", value or "")
    stripped = nh3.clean(with_breaks, tags=set(), attributes={})
    text = html.unescape(stripped)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def is_blank(value: str) -> bool:
    return not html_to_text(value)
