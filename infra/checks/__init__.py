"""Checks of this project for the security scan (checkov); see encrypted_by_default.py."""
