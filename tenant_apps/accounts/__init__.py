"""People who sign in to one instance: staff (owner, admin, billing, support) and customers."""
