"""cdktf constructs of the worker autoscaling stack, one per file.

Provider classes are imported only through ``modules.aws`` (one place to keep
the cdktf surface small and the import fast).
"""
