"""pinback: keeps a service's deployed versions equal to the versions pinned in a file.

The package is layered (checked by import-linter, see pyproject.toml):
``cli`` > ``sandbox`` > ``engine`` > ``drivers`` > ``aws`` > ``plan`` > ``spec`` > ``model``.
The planner, the file models and the value types never touch AWS or a database.
"""

__version__ = "0.1.0"
