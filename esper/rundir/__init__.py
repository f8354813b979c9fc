"""Run directories: the layout of their files, the session that writes them, atomic writes,
checkpoints, path rules and the scan behind ``esper runs list``."""
