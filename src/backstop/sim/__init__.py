"""Simulated market participants and scripted scenarios."""
