"""The runner's command line: its flags, its start-up log, the command as typed."""
