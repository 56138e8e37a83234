"""Management views."""
