"""Logging and metrics, set up once: structured JSON logs and CloudWatch EMF metrics (Powertools)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="patchcast")
metrics = Metrics(namespace="Patchcast", service="patchcast")
