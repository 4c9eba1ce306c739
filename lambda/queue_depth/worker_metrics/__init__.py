"""Queue-depth publisher: the code that runs inside the Lambda.

``contract`` is the single source of truth for the metric schema; the cdktf
stacks in ``modules/`` import it too, so what is published is what is consumed.
"""
