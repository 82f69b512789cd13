"""The embedded local AWS: moto in server mode, provisioning from ``infra/``, the event runner, the outbox."""
