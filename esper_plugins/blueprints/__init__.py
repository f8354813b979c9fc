"""Built-in blueprint and host plugins (one package per topology)."""
