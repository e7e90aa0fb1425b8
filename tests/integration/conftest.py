"""Fixtures shared by the integration tests: a gateway with its own keys and two years of registers
(`tests.integration.test_retention.own`), for the retention and partition tests."""

from tests.integration.test_retention import own  # noqa: F401 (the fixture, made visible here)
