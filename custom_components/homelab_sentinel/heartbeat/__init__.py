"""The heartbeat kind: jobs that report in through a webhook."""
