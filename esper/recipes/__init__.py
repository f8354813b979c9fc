"""The recipes behind the commands: ``esper run`` (`grow`), ``esper train`` (`train`), their
resume, the environment factory both share and the Ctrl-C protocol (`interrupt`). Each reads a
validated config and a run directory and drives the engine; nothing below imports them."""
