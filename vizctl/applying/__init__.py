"""Applying a plan: the state machine and its progress output."""
