"""Tests of the heartbeat kind."""
