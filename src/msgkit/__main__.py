"""``python -m msgkit``: the command line."""

from msgkit.cli import main

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
