"""Administrative units: a unit's path up the tree with the units continuing those that ceased (``paths``), adding
a unit to the tree (``tree``), which unit continues which across the 2025 reform (``successions``), the
recognitions a unit holds and carries (``recognitions``) and its history as the API shows it (``history``), and
the import of the official lists (``import_inputs`` -> ``import_checks`` -> ``import_units``; the files themselves
are read by service.persistence.unit_lists)."""
