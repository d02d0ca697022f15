"""The instance staff area: dashboard and navigation that later capabilities fill in."""
