"""Counter views."""

from hall.counter import blueprint


@blueprint.get("/login")
def login():
    """Staff sign-in (placeholder until the counter is built)."""
    return "login"
