"""AWS validations moto is looser about (placeholder, filled in by the foundation work)."""


def install() -> None:
    pass
