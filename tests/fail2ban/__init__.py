"""fail2ban bans read from fail2ban's database and log, against a real fail2ban-server."""
