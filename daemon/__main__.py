"""``python -m daemon``: the same entry point as the ``pinback`` console script."""

from daemon.cli.app import main

if __name__ == "__main__":
    main()
