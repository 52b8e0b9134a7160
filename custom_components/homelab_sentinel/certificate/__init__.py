"""TLS certificates, from live endpoints (with STARTTLS) and from PEM files or directories."""
