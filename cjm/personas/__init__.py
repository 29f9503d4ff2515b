"""Personas: customer features, clustering, names and descriptions, ids across runs, insights."""
