"""A Linux host, this one or one reached over SSH: updates, reboots and SSH hardening."""
