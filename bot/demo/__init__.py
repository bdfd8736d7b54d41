"""`nudgebot demo`: a generated team, config and customer stream for the whole loop on one
machine. Pure data and timing; the command in ``bot.cli.demo`` wires it to the real runtime."""
