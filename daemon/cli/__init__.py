"""The command line (``pinback``): parsing and printing over the same functions the controller
uses (``commands``), and the pin-file rewrites of ``pinback rollback`` (``rollback``). The top
layer: nothing imports it but ``daemon.__main__`` and the console script.
"""
