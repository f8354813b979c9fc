"""esper's built-in plugins (installed as the package ``esper_plugins``).

Each plugin is discovered through its ``esper.plugins`` entry point exactly like a third-party
plugin and imports only esper's public API.
"""
