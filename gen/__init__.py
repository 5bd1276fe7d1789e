"""Generators: soul weights -> ca65 .inc data, Jinja-rendered ca65 sources."""
