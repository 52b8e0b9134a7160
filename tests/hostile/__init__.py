"""Hostile input and hostile servers: every flow ends cleanly, bounded in time and memory."""
