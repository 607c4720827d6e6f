"""Acting on many cases at once, each through the one write path as the caller: campaigns open one cycle's cases
for every unit under a province or district (``campaign_checks`` -> ``campaign_batches`` -> ``campaigns``), and
case migrations move open cases to another version of their definition (``migration_checks`` ->
``case_migrations``)."""
