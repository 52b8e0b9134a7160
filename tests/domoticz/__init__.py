"""Tests of the Domoticz client against a simulated Domoticz."""
