"""The simulation's report: one PNG per policy and fleet (``charts``) and an HTML page
with the results table and the same charts inlined (``html``)."""
