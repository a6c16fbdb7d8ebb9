"""The run: its directory and layout, config, the stage loop with DONE and locks, faults, cost."""
