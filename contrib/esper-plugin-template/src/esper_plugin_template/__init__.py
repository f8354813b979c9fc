"""esper-plugin-template: a CSV telemetry sink for esper, and a template for new plugins.

Keep this file cheap to import: esper imports ``esper_plugin_template.plugin`` (and so this
package) for every command, ``esper --help`` included.
"""
