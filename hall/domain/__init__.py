"""Workflows as functions taking a Session; they never commit and never import flask."""
