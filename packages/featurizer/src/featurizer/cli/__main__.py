"""``python -m featurizer.cli``: the same as the ``featurizer`` command."""

from . import main

main()
