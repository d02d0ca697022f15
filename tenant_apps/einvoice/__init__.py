"""E-invoicing: Factur-X / ZUGFeRD (CII in PDF/A-3) and UBL (Peppol BIS 3.0, XRechnung)."""
