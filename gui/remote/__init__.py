"""Unattended hours: a read-only status page for the phone, and notifications when the rig
needs a person. Both are subscribers of a run, like the window: they draw and send what the
run publishes, on their own threads, and never reach an instrument."""
