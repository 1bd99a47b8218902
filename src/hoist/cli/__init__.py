"""The command line: parse flags, call a function, print. No logic of its own."""
