"""``python -m daemon``: the same entry point as the ``pinback`` console script."""

from daemon.cli.commands import main

if __name__ == "__main__":
    main()
