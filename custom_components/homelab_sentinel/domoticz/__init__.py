"""Home-Assistant-free client for Domoticz's authentication posture."""
