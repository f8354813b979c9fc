"""The Textual dashboard of ``esper watch``; importing it imports textual (optional: the
``watch`` extra), which is why the command imports it only when the dashboard starts."""
