"""Orders (with their referer) and the services they create: activation, renewal dates, changes."""
