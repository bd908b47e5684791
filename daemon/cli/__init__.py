"""The command line (``pinback``): ``app`` holds the command group and the entry point that
turns every error into one sentence; each verb is a short function in the module of its
kind (``files``, ``changes``, ``running``, ``pins``, ``history``, ``sandbox``) over
``common``'s options and loaders; ``rollback`` rewrites a pin in place. The top layer:
nothing imports it but ``daemon.__main__`` and the console script.
"""
