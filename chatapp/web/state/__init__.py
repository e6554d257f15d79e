"""Reflex state: thin adapters between browser events and the service."""
