"""The acceptance suite (`make acceptance`, docs/acceptance.md): the two-node
installation in network namespaces (install.py), bingo.md's acceptance list as
automated checks (items_*.py, one group each), a table and bench/acceptance.json."""
