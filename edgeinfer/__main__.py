"""``python -m edgeinfer``: the same as the ``edgeinfer`` command."""

from edgeinfer.cli import main

main()
