"""The state diagram of a procedure, drawn from the same definition the engine runs.

This package owns the picture of a workflow, and nothing else: the states, triggers and system-fired transitions it
draws are read from a ``Definition`` (the very object ``workflows.registry`` hands to the state machine), so the
diagram cannot drift from the behaviour. ``graph`` reads the states and edges both renderings draw:

* ``mermaid.mermaid`` writes a Mermaid ``stateDiagram-v2`` for documentation that renders Mermaid;
* ``svg.svg`` writes a self-contained SVG document (no scripts, no external fonts), laid out by ``svg_layout``:
  a state's layer is its shortest distance from the initial state (unreachable states come last); the states of a
  layer sit side by side in a row, rows run top to bottom. Edges between neighbouring rows are straight lines,
  edges between neighbours in a row are horizontal, every other edge runs round the side in its own lane, and a
  transition that stays in its state is a small loop on the box's right.

Both are pure functions: no I/O, and the same definition always gives the same text, so a diagram can be
committed, diffed and served next to the definition. ``indicator_process=True`` draws the per-indicator
sub-process instead of the case's own states. System-fired transitions (``bodies: [system]``, the service's
timers) are labelled ``trigger (system)`` in Mermaid and dashed in the SVG.
"""
