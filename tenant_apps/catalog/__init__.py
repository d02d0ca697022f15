"""The instance's catalog: products and add-ons, billing cycles, prices, tax classes, resources."""
