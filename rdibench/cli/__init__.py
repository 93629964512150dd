"""Floor 9: the command line. One module per subcommand; each parses, calls one library function, renders."""
