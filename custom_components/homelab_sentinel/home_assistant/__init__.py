"""home_assistant: this Home Assistant's own posture, read from itself, never over the network."""
