"""certbot on this machine or on another one over SSH: its certificates, and renewing them."""
