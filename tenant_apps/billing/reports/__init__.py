"""Reports of one instance's billing, for a date range: VAT (the data of an OSS return and
the EC sales list), revenue (invoiced, collected, deferred), aging of receivables, customer
statements and the journal an accountant imports.

`selectors` computes every figure in the database (drafts and void documents never count,
credit notes count negative, amounts never cross currencies); `exporters` writes them as
CSV and XLSX, `statements` prints a statement as a PDF; `views`, `portal_views` and `api`
are the screens, the customer's own statement and the read-only API. Every staff screen
and endpoint needs the billing permission (owner, administrators, billing staff).
"""
