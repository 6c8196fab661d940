"""Keeping a run alive and honest: the command line's exit statuses, signals, the
watchdog, the workdir lock, device sharding and Orbax checkpoints."""
