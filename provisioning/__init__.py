"""Building instance schemas: template snapshot, warm pool, migrate-all, export/import, drop."""
