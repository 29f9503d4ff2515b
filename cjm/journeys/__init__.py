"""Journeys: what customers do on their way and what it leads to.

paths (path variants, paths around an anchor or between two touchpoints, funnels, and the table
macros that answer them on the published file), insights (one row per touchpoint: reach, lifts,
sentiment, drop-off, removal effect and role), kpis (KPIs over time and touchpoint owners).
"""
