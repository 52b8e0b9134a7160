"""fail2ban: bans per jail, from fail2ban's SQLite database or by tailing its log."""
