"""The ``nsbi`` command line: a thin click layer over functions that notebooks call too."""
