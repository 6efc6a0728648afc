"""``python -m livegen``: the same as the ``livegen`` command."""

from livegen.cli import entry_point

if __name__ == "__main__":
    entry_point()
