"""`python -m rooflens`: the command line, where the `rooflens` script is not installed."""

from rooflens.cli.app import main

if __name__ == "__main__":
    main()
