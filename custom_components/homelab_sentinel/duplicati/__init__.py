"""Home-Assistant-free client for Duplicati's REST API (2.0.x legacy, 2.1.0.x and 2.1.2+)."""
