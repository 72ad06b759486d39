"""Simulation: what usage would cost on another model, and recommendations."""
