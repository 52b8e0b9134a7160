"""Tests for the Duplicati client and its protocol simulator."""
